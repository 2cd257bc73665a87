"""Role checks for endpoints that belong to a role. Object scope is never decided here:
querysets start from the models' ``visible_to`` selectors and answer 404 outside them."""

from rest_framework.permissions import BasePermission


class IsClinicAdmin(BasePermission):
    message = "Only a clinic admin may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.is_clinic_admin and user.clinic_id)


class IsSupervisor(BasePermission):
    message = "Only a supervisor has supervision summaries."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user.is_authenticated and user.is_supervisor and user.clinic_id)
