from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alliance.api.serializers import IdField, UserRefSerializer
from alliance.models import Client
from measures.models import Instrument, Rating

MAX_KEYS = 100


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string", "maxLength": 50}],
        "nullable": True,
        "description": "A number on the item's response scale; null or empty: not answered.",
    }
)
class AnswerField(serializers.Field):
    """One answer as posted: a number, a numeric string, or null. The instrument's scoring
    decides whether it is valid, so messages match the forms'."""

    default_error_messages = {"invalid": "Enter a number, a numeric string or null."}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 50:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(
    {
        "oneOf": [
            {"type": "boolean"},
            {"type": "number"},
            {"type": "string", "maxLength": 2000},
        ],
        "nullable": True,
    }
)
class QuestionAnswerField(AnswerField):
    def to_internal_value(self, data):
        if not isinstance(data, bool | int | float | str):
            self.fail("invalid")
        if isinstance(data, str) and len(data) > 2000:
            self.fail("invalid")
        return data


class InstrumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Instrument
        fields = ["id", "key", "version", "name", "rater", "is_active", "definition"]
        read_only_fields = fields


class InstrumentRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Instrument
        fields = ["id", "key", "version"]
        read_only_fields = fields


class RatingSerializer(serializers.ModelSerializer):
    client = serializers.IntegerField(source="session.client_id", read_only=True)
    client_code = serializers.CharField(source="session.client.code", read_only=True)
    session_number = serializers.IntegerField(source="session.number", read_only=True)
    instrument = InstrumentRefSerializer(read_only=True)
    submitted_by = UserRefSerializer(read_only=True, allow_null=True)
    answers = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField()

    class Meta:
        model = Rating
        fields = [
            "id",
            "session",
            "session_number",
            "client",
            "client_code",
            "instrument",
            "rater",
            "submitted_by",
            "submitted_at",
            "submission_id",
            "language",
            "tension",
            "tension_addressed",
            "comment",
            "revision",
            "answers",
            "scores",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "description": "Item key -> answer (unanswered items are absent).",
        }
    )
    def get_answers(self, rating) -> dict:
        return {answer.item: answer.value for answer in rating.answers.all()}

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {"type": "number", "nullable": True},
            "description": "Scale key -> score (null: too few items answered to score it).",
        }
    )
    def get_scores(self, rating) -> dict:
        return {score.scale: score.score for score in rating.scores.all()}


class RatingCreateSerializer(serializers.Serializer):
    """Your own post-session rating of a session you held (the clinic's therapist form).

    Client ratings come only through the client's one-time form link."""

    session = IdField(help_text="Id of a session you held.")
    answers = serializers.DictField(child=AnswerField(), help_text="Item key -> answer.")
    questions = serializers.DictField(
        child=QuestionAnswerField(),
        required=False,
        default=dict,
        help_text="Optional questions of the form, by key.",
    )
    submission_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Your id for this submission: posting it again returns the stored rating "
        "(200) instead of a second one.",
    )
    language = serializers.ChoiceField(choices=Client.Language.choices, default="en")

    def validate_answers(self, value):
        if len(value) > MAX_KEYS:
            raise serializers.ValidationError(f"At most {MAX_KEYS} answers.")
        return value

    def validate_questions(self, value):
        return self.validate_answers(value)


class RatingUpdateSerializer(serializers.Serializer):
    """A correction of your own rating within the clinic's edit window."""

    answers = serializers.DictField(child=AnswerField())
    questions = serializers.DictField(child=QuestionAnswerField(), required=False)
    revision = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text="The revision you read: a rating changed since answers 409.",
    )

    validate_answers = RatingCreateSerializer.validate_answers
    validate_questions = RatingCreateSerializer.validate_questions


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file (UTF-8); see docs/api.md.")


class ImportQuerySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(
        default=True, help_text="true (default): only check. false: import, all or nothing."
    )
    background = serializers.BooleanField(
        default=False,
        help_text="With dry_run=false: check now, then import as a background job (202).",
    )

    def validate(self, data):
        if data["background"] and data["dry_run"]:
            raise serializers.ValidationError(
                {"background": ["A background import applies the file: send dry_run=false."]}
            )
        return data


class ImportProblemSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="As a spreadsheet numbers it: the header is row 1.")
    column = serializers.CharField(help_text="Empty for a problem with the whole row.")
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    rows = serializers.IntegerField()
    ratings = serializers.IntegerField(help_text="Ratings without problems (to be) imported.")
    sessions_to_create = serializers.IntegerField(required=False)
    sessions_created = serializers.IntegerField(required=False)
    clients = serializers.ListField(child=serializers.CharField())
    problems = ImportProblemSerializer(many=True)
    warnings = ImportProblemSerializer(
        many=True, help_text="What is imported otherwise than the file says; not problems."
    )
