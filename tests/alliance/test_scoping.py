"""Who may open which page: every role against own, another therapist's and another
clinic's objects. Outside scope is 404 (never 403); a write by someone who may only read
is 404 too; anonymous users are sent to log in."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from alliance.models import Client, ClientTransfer
from measures.models import Rating
from sessions.models import TherapySession
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

ROLES = [
    "therapist",
    "other_therapist",
    "supervisor",
    "clinic_admin",
    "other_clinic_admin",
    "anonymous",
]


def course(client, instruments):
    """A client's two sessions: the first held and rated by their therapist, the second held
    an hour ago and not rated yet."""
    now = timezone.now()
    rated = TherapySessionFactory(client=client, number=1, starts_at=now - dt.timedelta(days=7))
    rating_of(rated, instruments["therapist"])
    unrated = TherapySessionFactory(client=client, number=2, starts_at=now - dt.timedelta(hours=1))
    return rated, unrated


@pytest.fixture
def world(therapist, other_therapist, supervisor, clinic_admin, other_clinic_admin, instruments):
    own = ClientFactory(primary_therapist=therapist, code="R-0001")
    theirs = ClientFactory(primary_therapist=other_therapist, code="R-0002")
    foreign_therapist = TherapistFactory(username="foreign", clinic=other_clinic_admin.clinic)
    # The same code in another clinic: searches must not find it.
    foreign = ClientFactory(primary_therapist=foreign_therapist, code="R-0001")
    objects = {}
    for name, client in [("own", own), ("theirs", theirs), ("foreign", foreign)]:
        rated, unrated = course(client, instruments)
        objects[name] = SimpleNamespace(client=client, rated=rated, unrated=unrated)
    return SimpleNamespace(
        users={
            "therapist": therapist,
            "other_therapist": other_therapist,
            "supervisor": supervisor,
            "clinic_admin": clinic_admin,
            "other_clinic_admin": other_clinic_admin,
            "anonymous": None,
        },
        foreign_therapist=foreign_therapist,
        foreign_colleague=TherapistFactory(clinic=other_clinic_admin.clinic),
        **objects,
    )


# Who may see each kind of object, and who may change it.
SEE = {
    "own": {"therapist", "supervisor", "clinic_admin"},
    "theirs": {"other_therapist", "clinic_admin"},
    "foreign": {"other_clinic_admin"},
}
TREAT = {"own": {"therapist"}, "theirs": {"other_therapist"}, "foreign": set()}
CHANGE_CLIENT = {
    "own": {"therapist", "clinic_admin"},
    "theirs": {"other_therapist", "clinic_admin"},
    "foreign": {"other_clinic_admin"},
}
TRANSFER = {"own": {"clinic_admin"}, "theirs": {"clinic_admin"}, "foreign": {"other_clinic_admin"}}

# page -> (url name, which object of the client's course, who may open it)
PAGES = {
    "client_detail": ("client_detail", "client", SEE),
    "client_edit": ("client_edit", "client", CHANGE_CLIENT),
    "client_transfer": ("client_transfer", "client", TRANSFER),
    "session_new": ("session_new", "client", TREAT),
    "session_detail": ("session_detail", "rated", SEE),
    "session_edit": ("session_edit", "rated", TREAT),
    "rating_new": ("rating_new", "unrated", TREAT),
    "rating_edit": ("rating_edit", "rated", TREAT),
}


def open_as(client, world, role):
    user = world.users[role]
    if user is not None:
        client.force_login(user)
    return client


def expected_status(role, allowed):
    if role == "anonymous":
        return 302
    return 200 if role in allowed else 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ["own", "theirs", "foreign"])
@pytest.mark.parametrize("page", PAGES)
def test_page_matrix(client, world, page, kind, role):
    url_name, target, who = PAGES[page]
    obj = getattr(getattr(world, kind), target)
    response = open_as(client, world, role).get(reverse(url_name, args=[obj.pk]))
    assert response.status_code == expected_status(role, who[kind])
    if role == "anonymous":
        assert response.url.startswith(reverse("login"))


def post_data(page, world, kind):
    """A valid submission for each writing page."""
    answers = dict.fromkeys(["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"], "3")
    clinic = getattr(world, kind).client.clinic
    local_now = timezone.localtime(timezone.now() - dt.timedelta(hours=2), clinic.tzinfo)
    return {
        "client_edit": {"code": "R-0999", "language": "en", "status": "active"},
        "client_transfer": {
            "to_therapist": (
                world.foreign_colleague.pk
                if kind == "foreign"
                else world.users["therapist" if kind == "theirs" else "other_therapist"].pk
            )
        },
        "session_new": {"starts_at": local_now.strftime("%Y-%m-%dT%H:%M"), "status": "completed"},
        "session_edit": {
            "starts_at": local_now.strftime("%Y-%m-%dT%H:%M"),
            "note": "moved",
            "revision": "1",
        },
        "session_status": {"status": "no_show"},
        "rating_new": answers,
        "rating_edit": {**answers, "revision": "1"},
    }[page]


def snapshot(world, kind):
    obj = getattr(world, kind)
    return (
        Client.objects.filter(pk=obj.client.pk).values_list("code", "primary_therapist")[0],
        list(
            TherapySession.objects.filter(client=obj.client).values_list("number", "status", "note")
        ),
        list(Rating.objects.filter(session__client=obj.client).values_list("pk", "revision")),
        ClientTransfer.objects.count(),
    )


WRITES = {
    "client_edit": ("client_edit", "client", CHANGE_CLIENT),
    "client_transfer": ("client_transfer", "client", TRANSFER),
    "session_new": ("session_new", "client", TREAT),
    "session_edit": ("session_edit", "rated", TREAT),
    "session_status": ("session_status", "unrated", TREAT),
    "rating_new": ("rating_new", "unrated", TREAT),
    "rating_edit": ("rating_edit", "rated", TREAT),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ["own", "theirs", "foreign"])
@pytest.mark.parametrize("page", WRITES)
def test_write_matrix(client, world, page, kind, role):
    """Allowed writes succeed (redirect); every other one is 404 and changes nothing."""
    url_name, target, who = WRITES[page]
    obj = getattr(getattr(world, kind), target)
    before = snapshot(world, kind)
    response = open_as(client, world, role).post(
        reverse(url_name, args=[obj.pk]), post_data(page, world, kind)
    )
    if role == "anonymous":
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    elif role in who[kind]:
        assert response.status_code == 302, getattr(response, "context", {}) and [
            f.errors for f in [response.context.get("form")] if f
        ]
        assert snapshot(world, kind) != before
        return
    else:
        assert response.status_code == 404
    assert snapshot(world, kind) == before


class TestLists:
    """List pages never show an out-of-scope row, whatever the search."""

    @pytest.mark.parametrize("query", ["", "R-0001", "R-", "0002"])
    def test_all_clients_list_is_scoped(self, client, world, query):
        expectations = {
            "therapist": {world.own.client.pk},
            "other_therapist": {world.theirs.client.pk},
            "supervisor": {world.own.client.pk},
            "clinic_admin": {world.own.client.pk, world.theirs.client.pk},
            "other_clinic_admin": {world.foreign.client.pk},
        }
        for role, visible in expectations.items():
            client.force_login(world.users[role])
            response = client.get(reverse("client_list"), {"q": query})
            shown = {row.client.pk for row in response.context["rows"]}
            assert shown <= visible, role
            assert shown == {pk for pk in visible if query in Client.objects.get(pk=pk).code}

    def test_caseload_shows_only_the_therapists_primary_clients(self, client, world):
        client.force_login(world.users["therapist"])
        response = client.get(reverse("caseload"), {"q": "R-000"})
        assert [row.client.pk for row in response.context["rows"]] == [world.own.client.pk]
        html = response.content.decode()
        assert "R-0002" not in html

    def test_counts_on_the_supervision_page_cover_only_supervisees(self, client, world):
        client.force_login(world.users["supervisor"])
        response = client.get(reverse("supervision"))
        [summary] = response.context["summaries"]
        assert summary.therapist == world.users["therapist"]
        assert summary.active_clients == 1
        assert "R-0002" not in response.content.decode()

    def test_clinic_page_lists_only_the_clinics_people(self, client, world):
        client.force_login(world.users["clinic_admin"])
        html = client.get(reverse("clinic")).content.decode()
        assert "other-therapist" in html
        assert "foreign" not in html
        assert "other-clinic-admin" not in html


THERAPIST_CASELOAD = {
    # therapist whose caseload is opened -> {role: status}
    "therapist": {
        "therapist": 302,  # their own: sent to /caseload/
        "other_therapist": 404,
        "supervisor": 200,
        "clinic_admin": 200,
        "other_clinic_admin": 404,
        "anonymous": 302,
    },
    "other_therapist": {
        "therapist": 404,
        "other_therapist": 302,
        "supervisor": 404,
        "clinic_admin": 200,
        "other_clinic_admin": 404,
        "anonymous": 302,
    },
    "foreign_therapist": {
        "therapist": 404,
        "other_therapist": 404,
        "supervisor": 404,
        "clinic_admin": 404,
        "other_clinic_admin": 200,
        "anonymous": 302,
    },
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("whose", THERAPIST_CASELOAD)
def test_therapist_caseload_matrix(client, world, whose, role):
    therapist = world.foreign_therapist if whose == "foreign_therapist" else world.users[whose]
    response = open_as(client, world, role).get(reverse("therapist_caseload", args=[therapist.pk]))
    assert response.status_code == THERAPIST_CASELOAD[whose][role]


ADMIN_PAGES = ["clinic", "clinic_user_create"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_clinic_admin_pages_are_for_clinic_admins(client, world, page, role):
    response = open_as(client, world, role).get(reverse(page))
    allowed = {"clinic_admin", "other_clinic_admin"}
    assert response.status_code == expected_status(role, allowed)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("whose", ["therapist", "foreign_therapist"])
def test_clinic_user_page_is_scoped_to_the_clinic(client, world, whose, role):
    person = world.foreign_therapist if whose == "foreign_therapist" else world.users[whose]
    response = open_as(client, world, role).get(reverse("clinic_user", args=[person.pk]))
    allowed = {"clinic_admin"} if whose == "therapist" else {"other_clinic_admin"}
    assert response.status_code == expected_status(role, allowed)


@pytest.mark.parametrize(
    ("url_name", "role"),
    [
        ("clinic_user_deactivate", "therapist"),
        ("clinic_user_deactivate", "supervisor"),
        ("clinic_user_deactivate", "other_clinic_admin"),
        ("clinic_user_password_reset", "other_clinic_admin"),
        ("clinic_user_reactivate", "other_clinic_admin"),
    ],
)
def test_account_actions_outside_the_clinic_admins_reach_are_404(client, world, url_name, role):
    target = world.users["other_therapist"]
    response = open_as(client, world, role).post(reverse(url_name, args=[target.pk]))
    assert response.status_code == 404
    target.refresh_from_db()
    assert target.is_active
    assert target.has_usable_password()


@pytest.mark.parametrize("url", ["/clients/999999/", "/sessions/999999/", "/clients/999999/edit/"])
def test_unknown_ids_are_404(client, therapist, url):
    client.force_login(therapist)
    assert client.get(url).status_code == 404


def test_nothing_in_scope_leaks_through_the_all_clients_count(client, world):
    client.force_login(world.users["supervisor"])
    html = client.get(reverse("client_list")).content.decode()
    assert "1 client" in html
