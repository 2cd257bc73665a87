import datetime as dt

from django.contrib.auth import authenticate
from django_otp import match_token
from rest_framework import exceptions, serializers

from alliance.clients.selectors import CASELOAD_SORTS, DEFAULT_SORT
from alliance.dashboards import RISK_SORT
from alliance.models import Client, Episode, EpisodeComment, Flag, User
from alliance.security.audit import audit_record
from alliance.security.lockout import lockout_message
from alliance.security.two_factor import two_factor_owed


class IdField(serializers.IntegerField):
    """An object's id: a positive whole number the database can hold (else 400)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(**kwargs)


class DateTimeField(serializers.DateTimeField):
    """A date and time of clinical work: from 1970 to 2100 (also keeps every offset a whole
    number of minutes, as RFC 3339 needs; zones had odd local-mean-time offsets long ago)."""

    earliest = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    latest = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        if not self.earliest <= moment < self.latest:
            raise serializers.ValidationError("Enter a date and time from 1970 to 2099.")
        return moment


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name"]


class ClientSerializer(serializers.ModelSerializer):
    primary_therapist = UserRefSerializer(read_only=True)

    class Meta:
        model = Client
        fields = [
            "id",
            "code",
            "display_name",
            "status",
            "language",
            "show_scores_to_client",
            "primary_therapist",
            "discharged_at",
            "created_at",
        ]
        read_only_fields = fields


class EpisodeCommentSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True)

    class Meta:
        model = EpisodeComment
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class FlagSerializer(serializers.ModelSerializer):
    """A flag is the record of what one rule found; the workflow is its episode's."""

    client_code = serializers.CharField(source="client.code", read_only=True)
    session_number = serializers.IntegerField(source="session.number", read_only=True)
    episode_status = serializers.ChoiceField(
        source="episode.status",
        choices=Episode.Status.choices,
        read_only=True,
        help_text="The status of the flag's episode (acknowledge and resolve the episode).",
    )
    # Blank until set: declared so the schema lists "" among their values.
    repair_status = serializers.ChoiceField(
        choices=Flag.RepairStatus.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Flag
        fields = [
            "id",
            "client",
            "client_code",
            "session",
            "session_number",
            "episode",
            "episode_status",
            "rater",
            "scale",
            "rule",
            "magnitude",
            "explanation",
            "repair_status",
            "repaired_session",
            "retired_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EpisodeFlagSerializer(serializers.ModelSerializer):
    """A flag as its episode's evidence: the rule that fired and its numbers."""

    session_number = serializers.IntegerField(source="session.number", read_only=True)
    repair_status = serializers.ChoiceField(
        choices=Flag.RepairStatus.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Flag
        fields = [
            "id",
            "rule",
            "rater",
            "scale",
            "session",
            "session_number",
            "magnitude",
            "explanation",
            "repair_status",
            "repaired_session",
        ]
        read_only_fields = fields


class EpisodeSerializer(serializers.ModelSerializer):
    client_code = serializers.CharField(source="client.code", read_only=True)
    session_number = serializers.IntegerField(source="session.number", read_only=True)
    last_session_number = serializers.IntegerField(source="last_session.number", read_only=True)
    flags = EpisodeFlagSerializer(
        source="evidence",
        many=True,
        read_only=True,
        help_text="The active flags it holds, the rules that fired (none once retired: see "
        "/flags/?episode=ID&retired=true).",
    )
    acknowledged_by = UserRefSerializer(read_only=True, allow_null=True)
    resolved_by = UserRefSerializer(read_only=True, allow_null=True)
    comments = EpisodeCommentSerializer(many=True, read_only=True)
    # Blank until set: declared so the schema lists "" among their values.
    repair_status = serializers.ChoiceField(
        choices=Episode.RepairStatus.choices, allow_blank=True, read_only=True
    )
    rupture_type = serializers.ChoiceField(
        choices=Episode.RuptureType.choices, allow_blank=True, read_only=True
    )
    repair_strategy = serializers.ChoiceField(
        choices=Episode.RepairStrategy.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Episode
        fields = [
            "id",
            "client",
            "client_code",
            "kind",
            "session",
            "session_number",
            "last_session",
            "last_session_number",
            "repair_status",
            "repaired_session",
            "retired_at",
            "flags",
            "status",
            "acknowledged_by",
            "acknowledged_at",
            "action_note",
            "action_session",
            "rupture_type",
            "repair_strategy",
            "resolved_by",
            "resolved_at",
            "comments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LockedOut(exceptions.APIException):
    status_code = 429
    default_code = "locked_out"
    default_detail = "Too many failed logins for this username from your address: try later."


class AuthTokenCredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, write_only=True)
    password = serializers.CharField(
        max_length=4096, write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )
    otp_token = serializers.CharField(
        max_length=8,
        required=False,
        write_only=True,
        help_text="The code from your authenticator app, if you sign in with a second factor.",
    )

    def validate(self, attrs):
        request = self.context.get("request")
        # The request goes to authenticate so django-axes counts failures per username+address.
        user = authenticate(request=request, username=attrs["username"], password=attrs["password"])
        if user is None:
            if getattr(request, "axes_locked_out", False):
                raise LockedOut(lockout_message(request))
            raise serializers.ValidationError(
                "Unable to log in with the username and password given.", code="authorization"
            )
        otp_token = attrs.get("otp_token")
        owed = two_factor_owed(user)
        if owed and not (otp_token and match_token(user, otp_token)):
            audit_record(
                action="login-failed",
                request=request,
                user=user,
                object_type="second_factor",
                url_name="api-auth-token",
            )
            raise serializers.ValidationError(
                {
                    "otp_token": [
                        "This account signs in with a second factor: send the current code "
                        "from your authenticator app (set one up in the web app first)."
                    ]
                },
                code="authorization",
            )
        audit_record(
            action="login",
            request=request,
            user=user,
            object_type="api_token",
            url_name="api-auth-token",
        )
        attrs["user"] = user
        attrs["second_factor"] = owed  # owed and verified: the code matched above
        return attrs


class AuthTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True, help_text="Send as `Authorization: Token <token>`."
    )
    expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the token stops working (null: until revoked); then ask again.",
    )


class ClientCreateSerializer(serializers.Serializer):
    """A new client. Clinic admins choose the primary therapist; therapists add their own."""

    code = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", help_text="Empty: suggested."
    )
    display_name = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default=""
    )
    primary_therapist = IdField(
        required=False, help_text="Clinic admins only; therapists: themselves."
    )
    language = serializers.ChoiceField(choices=Client.Language.choices, default="en")
    show_scores_to_client = serializers.BooleanField(default=False)


class ClientUpdateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, required=False)
    display_name = serializers.CharField(max_length=40, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=Client.Language.choices, required=False)
    status = serializers.ChoiceField(choices=Client.Status.choices, required=False)
    show_scores_to_client = serializers.BooleanField(required=False)


class ClientTransferSerializer(serializers.Serializer):
    to_therapist = IdField(help_text="A therapist of the clinic.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SeriesPointSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    session = serializers.IntegerField(allow_null=True, help_text="Null: no such session.")
    date = serializers.DateField(allow_null=True, help_text="In the clinic's timezone.")
    status = serializers.CharField(allow_null=True)
    client = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        allow_null=True,
        help_text="Scale -> client-rated score; null: no client rating.",
    )
    therapist = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        allow_null=True,
        help_text="Scale -> therapist-rated score; null: no therapist rating.",
    )


class SeriesSerializer(serializers.Serializer):
    client = serializers.IntegerField()
    client_code = serializers.CharField()
    scales = serializers.ListField(child=serializers.CharField())
    sessions = SeriesPointSerializer(many=True)


class RiskSerializer(serializers.Serializer):
    """Why a client ranks where they do: the same ranking as the web app's caseloads."""

    tier = serializers.IntegerField(
        help_text="0 unrepaired rupture, 1 rupture with repair pending, 2 low alliance, "
        "3 new open signal, 4 client forms missing, 5 older open flag (off the list), "
        "6 no concerns (docs/dashboards.md)."
    )
    label = serializers.CharField()
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Most serious first; empty: no concerns."
    )


# Serialises a caseload row (alliance.dashboards.CaseloadRow): its client's fields and caseload
# columns, the changes and the risk; the schema stays that of a client.
class CaseloadClientSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="client.pk", read_only=True)
    code = serializers.CharField(
        source="client.code", read_only=True, help_text=Client._meta.get_field("code").help_text
    )
    display_name = serializers.CharField(
        source="client.display_name",
        read_only=True,
        help_text=Client._meta.get_field("display_name").help_text,
    )
    status = serializers.ChoiceField(
        source="client.status", choices=Client.Status.choices, read_only=True
    )
    primary_therapist = UserRefSerializer(source="client.primary_therapist", read_only=True)
    risk = RiskSerializer(read_only=True)
    latest_client_total = serializers.FloatField(
        source="client.latest_client_total", allow_null=True
    )
    previous_client_total = serializers.FloatField(
        source="client.previous_client_total", allow_null=True
    )
    client_change = serializers.FloatField(allow_null=True)
    latest_therapist_total = serializers.FloatField(
        source="client.latest_therapist_total", allow_null=True
    )
    previous_therapist_total = serializers.FloatField(
        source="client.previous_therapist_total", allow_null=True
    )
    therapist_change = serializers.FloatField(allow_null=True)
    open_episodes = serializers.IntegerField(source="client.open_episodes")
    sessions_since_client_form = serializers.IntegerField(
        source="client.sessions_since_client_form"
    )
    next_session_at = serializers.DateTimeField(source="client.next_session_at", allow_null=True)
    last_session_at = serializers.DateTimeField(source="client.last_session_at", allow_null=True)

    class Meta:
        model = Client
        fields = [
            "id",
            "code",
            "display_name",
            "status",
            "primary_therapist",
            "latest_client_total",
            "previous_client_total",
            "client_change",
            "latest_therapist_total",
            "previous_therapist_total",
            "therapist_change",
            "open_episodes",
            "sessions_since_client_form",
            "next_session_at",
            "last_session_at",
            "risk",
        ]
        read_only_fields = fields


class CaseloadQuerySerializer(serializers.Serializer):
    therapist = IdField(
        required=False,
        help_text="A supervisee's (or, for clinic admins, any therapist's) caseload. Absent: "
        "your own caseload if you are a therapist, else every client in your scope.",
    )
    search = serializers.CharField(max_length=32, required=False, default="")
    sort = serializers.ChoiceField(
        choices=[f"{sign}{key}" for key in [*CASELOAD_SORTS, RISK_SORT] for sign in ("", "-")],
        default=DEFAULT_SORT,
        help_text="Default: open episodes first, then the lowest client alliance. risk: most at "
        "risk first, as the web app's caseloads.",
    )
    include_discharged = serializers.BooleanField(required=False, default=False)


class TherapistSummarySerializer(serializers.Serializer):
    therapist = UserRefSerializer()
    active_clients = serializers.IntegerField()
    mean_client_alliance = serializers.FloatField(allow_null=True)
    completed_30d = serializers.IntegerField()
    with_client_form_30d = serializers.IntegerField()
    client_form_rate = serializers.FloatField(allow_null=True)
    open_episodes = serializers.IntegerField()


class SupervisionSerializer(serializers.Serializer):
    therapists = TherapistSummarySerializer(many=True)
    attention = CaseloadClientSerializer(
        many=True,
        help_text="Supervisees' active clients with a reason to look (risk tier 0-4), most at "
        "risk first, as on the supervision dashboard (at most 20).",
    )


class RatingsExportQuerySerializer(serializers.Serializer):
    client = IdField(required=False, help_text="One client's ratings.")
    therapist = IdField(
        required=False,
        help_text="A therapist's caseload (their primary clients): yourself, a supervisee, or "
        "anyone in the clinic for clinic admins. Neither: everything in your scope.",
    )


class EpisodeAcknowledgeSerializer(serializers.Serializer):
    action_note = serializers.CharField(
        max_length=5000, help_text="What you did or will do about it."
    )
    action_session = IdField(
        required=False, allow_null=True, help_text="The client's held session where it happened."
    )
    rupture_type = serializers.ChoiceField(
        choices=Episode.RuptureType.choices, required=False, allow_blank=True, default=""
    )
    repair_strategy = serializers.ChoiceField(
        choices=Episode.RepairStrategy.choices, required=False, allow_blank=True, default=""
    )


class EpisodeResolveSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Kept as a comment.",
    )


class EpisodeCommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000)
