"""``POST /api/auth/token/``: a staff user trades a password, once, for an API token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from products.auth import count_password_attempt


class TokenRequestSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()


class DetailSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()


class ObtainTokenView(APIView):
    """``POST {"username", "password"}`` -> ``{"token": key}`` for an active staff user (the same key each time).

    Wrong credentials: 400; not staff: 403; too many attempts: 429. Staff list and revoke
    tokens in the admin (Auth Token > Tokens).
    """

    authentication_classes: list[type[Any]] = []
    permission_classes = [AllowAny]
    serializer_class = TokenRequestSerializer

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: inline_serializer(  # wrong credentials, or a field's own errors
                "TokenRefused",
                {name: serializers.ListField(required=False) for name in ("non_field_errors", "username", "password")},
            ),
            403: DetailSerializer,
            429: DetailSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        username, password = form.validated_data["username"], form.validated_data["password"]
        count_password_attempt(request, username)
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            raise ValidationError({"non_field_errors": ["Unable to log in with the provided credentials."]})
        if not user.is_staff:
            raise PermissionDenied("API tokens are for staff users.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
