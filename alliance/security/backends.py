"""Authentication backend: the standard model backend, loading the user's clinic with them."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class ClinicModelBackend(ModelBackend):
    def get_user(self, user_id):
        # Every page shows the clinic and uses its timezone: one query instead of two.
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("clinic").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
