"""The ways a message reaches a client, keyed by the kind of their contact address.

A caller describes what to say (a ClientMessage: which templates, their context, the
language) and asks ``client_notify``; it never names a channel. Each channel renders the
message its own way from ``templates/notify/<template>_<channel>...`` and sends it: email
has a subject and a body (and the RFC 8058 one-click unsubscribe headers); an SMS channel
added later renders a short ``<template>_sms.txt`` and registers itself under
ClientContact.Kind "sms" here, with no change to the callers. Messages carry no clinical
content: the clinic's name, a link, a reason in general words.
"""

from dataclasses import dataclass, field
from typing import Protocol

from django.template.loader import render_to_string
from django.utils import translation

from alliance.models import ClientContact
from alliance.notify.email import email_send


@dataclass(frozen=True)
class ClientMessage:
    """What to tell a client. ``template`` names the templates, ``what`` the message in the
    logs (ids, never an address), ``stop_url`` the one-click way to stop such messages."""

    template: str
    language: str
    what: str
    context: dict = field(default_factory=dict)
    stop_url: str = ""


class Channel(Protocol):
    def send(self, *, address: str, message: ClientMessage) -> bool:
        """Send the message to the address; False when it could not be sent (never raises)."""
        ...


class EmailChannel:
    """templates/notify/<template>_subject.txt and <template>_email.txt, in the message's
    language; a stop link also goes in List-Unsubscribe (with List-Unsubscribe-Post, RFC
    8058), so a mail client stops the messages with one POST."""

    def send(self, *, address: str, message: ClientMessage) -> bool:
        context = {**message.context, "stop_url": message.stop_url}
        with translation.override(message.language):
            subject = render_to_string(f"notify/{message.template}_subject.txt", context)
            body = render_to_string(f"notify/{message.template}_email.txt", context)
        headers = None
        if message.stop_url:
            headers = {
                "List-Unsubscribe": f"<{message.stop_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return email_send(
            subject=subject, body=body, to=address, what=message.what, headers=headers
        )


CHANNELS: dict[str, Channel] = {
    ClientContact.Kind.EMAIL: EmailChannel(),
}


def client_notify(*, contact: ClientContact, message: ClientMessage) -> bool:
    """Send the message to the client's address through the channel of its kind; False when
    it could not be sent or no channel serves that kind."""
    channel = CHANNELS.get(contact.kind)
    if channel is None:
        return False
    return channel.send(address=contact.address, message=message)
