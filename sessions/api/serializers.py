from rest_framework import serializers

from alliance.api.serializers import DateTimeField, IdField, UserRefSerializer
from sessions.models import FormLink, TherapySession


class TherapySessionSerializer(serializers.ModelSerializer):
    client_code = serializers.CharField(source="client.code", read_only=True)
    therapist = UserRefSerializer(read_only=True)
    has_client_rating = serializers.BooleanField(read_only=True)
    has_therapist_rating = serializers.BooleanField(read_only=True)

    class Meta:
        model = TherapySession
        fields = [
            "id",
            "client",
            "client_code",
            "number",
            "therapist",
            "starts_at",
            "status",
            "note",
            "has_client_rating",
            "has_therapist_rating",
            "revision",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TherapySessionCreateSerializer(serializers.Serializer):
    """You schedule (or log) the client's next session; you are its therapist."""

    client = IdField(help_text="Id of a client you treat.")
    starts_at = DateTimeField(help_text="ISO 8601 with an offset.")
    status = serializers.ChoiceField(
        choices=TherapySession.Status.choices, default=TherapySession.Status.SCHEDULED
    )
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class TherapySessionUpdateSerializer(serializers.Serializer):
    """Any of: a new status, a corrected date and time, a new note."""

    status = serializers.ChoiceField(choices=TherapySession.Status.choices, required=False)
    starts_at = DateTimeField(required=False)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)
    revision = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="The revision you read: a date or note changed since answers 409.",
    )


class FormLinkCreateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(
        choices=[FormLink.Channel.LINK, FormLink.Channel.QR],
        default=FormLink.Channel.LINK,
        help_text="How you will hand the link over (the tablet hand-over is in the web app).",
    )


class FormLinkSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The one-time address of the client's form.")
    expires_at = serializers.DateTimeField()
