from django import template

from sessions.formlinks import formlink_status

register = template.Library()


@register.simple_tag(takes_context=True)
def client_form_status(context, session):
    """The client form's state for the session page's panel (see formlink_status)."""
    return formlink_status(session=session, user=context["request"].user)
