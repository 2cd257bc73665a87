from django.contrib.auth import authenticate
from rest_framework import serializers

from alliance.models import Client, Flag, FlagComment, User


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


class FlagCommentSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True)

    class Meta:
        model = FlagComment
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class FlagSerializer(serializers.ModelSerializer):
    client_code = serializers.CharField(source="client.code", read_only=True)
    session_number = serializers.IntegerField(source="session.number", read_only=True)
    acknowledged_by = UserRefSerializer(read_only=True, allow_null=True)
    resolved_by = UserRefSerializer(read_only=True, allow_null=True)
    comments = FlagCommentSerializer(many=True, read_only=True)

    class Meta:
        model = Flag
        fields = [
            "id",
            "client",
            "client_code",
            "session",
            "session_number",
            "rater",
            "scale",
            "rule",
            "magnitude",
            "explanation",
            "repair_status",
            "repaired_session",
            "retired_at",
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


class AuthTokenCredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, write_only=True)
    password = serializers.CharField(
        max_length=4096, write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )

    def validate(self, attrs):
        user = authenticate(
            request=self.context.get("request"),
            username=attrs["username"],
            password=attrs["password"],
        )
        if user is None:
            raise serializers.ValidationError(
                "Unable to log in with the username and password given.", code="authorization"
            )
        attrs["user"] = user
        return attrs


class AuthTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True, help_text="Send as `Authorization: Token <token>`."
    )
