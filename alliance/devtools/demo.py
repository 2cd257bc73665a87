"""Deterministic demo data: one clinic, four demo accounts, ~25 clients with realistic series.

Every run produces the same clinic (idempotent: objects are looked up by natural keys and
ratings by deterministic submission ids), so `make run` can call it every time.
"""

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from alliance.flags.services import episode_acknowledge, episode_resolve, flags_refresh_for_client
from alliance.models import Client, Clinic, Episode, Notice, Supervision, User
from alliance.notify.services import notices_create_for_episodes
from measures.models import Instrument, Rater, Rating
from measures.selectors import instrument_for
from measures.services import rating_record
from sessions.models import TherapySession

CLINIC_NAME = "Riverside Demo Clinic"
PASSWORD = "demo"
# Addresses on example.org (RFC 2606): "Forgot your password?" can be tried with the demo,
# and nothing leaves the machine (make run writes mail to var/mail/).
ACCOUNTS = {
    "demo-therapist": {"first_name": "Dana", "last_name": "Reyes", "is_therapist": True},
    "demo-therapist2": {"first_name": "Sam", "last_name": "Okafor", "is_therapist": True},
    "demo-supervisor": {"first_name": "Lee", "last_name": "Moreno", "is_supervisor": True},
    "demo-admin": {"first_name": "Alex", "last_name": "Kim", "is_clinic_admin": True},
}
ACCOUNTS = {name: {**fields, "email": f"{name}@example.org"} for name, fields in ACCOUNTS.items()}
# Stable namespace so the same demo rating always gets the same submission id.
DEMO_NAMESPACE = uuid.UUID("6f1c1f7e-5d0a-4c1b-9a57-3f3f8f0c2d11")


@dataclass(frozen=True)
class Course:
    """One demo client's course of therapy and the story its ratings tell."""

    code: str
    therapist: str
    sessions: int
    level: float  # the client's usual alliance on the 1-5 scale
    story: str = "steady"  # steady, rising, repaired, unrepaired, missing, ceiling, overrated
    rupture_at: int = 0  # session number of the drop, for repaired and unrepaired
    language: str = "en"
    skipped: tuple[int, ...] = ()  # cancelled or no-show session numbers (gaps in the series)


COURSES = [
    Course("RDC-001", "demo-therapist", 14, 4.2, "repaired", rupture_at=8),
    Course("RDC-002", "demo-therapist", 11, 4.0, "unrepaired", rupture_at=8),
    Course("RDC-003", "demo-therapist", 22, 4.4, "steady", skipped=(6, 15)),
    Course("RDC-004", "demo-therapist", 9, 3.6, "rising", language="es"),
    Course("RDC-005", "demo-therapist", 12, 4.1, "missing"),
    Course("RDC-006", "demo-therapist", 6, 4.9, "ceiling"),
    Course("RDC-007", "demo-therapist", 30, 4.3, "repaired", rupture_at=17, skipped=(11,)),
    Course("RDC-008", "demo-therapist", 5, 3.9, "steady", language="es"),
    Course("RDC-009", "demo-therapist", 16, 3.8, "overrated"),
    Course("RDC-010", "demo-therapist", 8, 4.0, "steady"),
    Course("RDC-011", "demo-therapist", 19, 4.1, "unrepaired", rupture_at=17),
    Course("RDC-012", "demo-therapist", 4, 3.7, "rising"),
    Course("RDC-013", "demo-therapist", 13, 4.2, "steady", skipped=(9,)),
    Course("RDC-014", "demo-therapist2", 10, 4.0, "repaired", rupture_at=6, language="es"),
    Course("RDC-015", "demo-therapist2", 15, 4.3, "steady"),
    Course("RDC-016", "demo-therapist2", 12, 3.9, "unrepaired", rupture_at=8),
    Course("RDC-017", "demo-therapist2", 7, 4.1, "missing"),
    Course("RDC-018", "demo-therapist2", 24, 4.0, "rising", skipped=(12, 13)),
    Course("RDC-019", "demo-therapist2", 9, 4.3, "steady", language="es"),
    Course("RDC-020", "demo-therapist2", 18, 4.0, "repaired", rupture_at=11),
    Course("RDC-021", "demo-therapist2", 5, 4.0, "steady"),
    Course("RDC-022", "demo-therapist2", 27, 4.1, "steady", skipped=(20,)),
    Course("RDC-023", "demo-therapist2", 8, 3.8, "overrated"),
    Course("RDC-024", "demo-therapist2", 11, 4.2, "missing", language="es"),
    Course("RDC-025", "demo-therapist2", 6, 3.5, "rising"),
]


def _client_level(course: Course, number: int, rng: random.Random) -> float:
    """The client's latent alliance at one session, before item noise."""
    level = course.level + rng.gauss(0, 0.08)
    if course.story == "rising":
        level += 0.08 * number
    if _in_rupture(course, number):
        level -= 1.7
    elif _repaired_by(course, number):
        # Repaired ruptures end at or above the earlier level (the V shape, Stiles et al. 2004).
        level += 0.35
    return level


def _repaired_by(course: Course, number: int) -> bool:
    """The rupture was repaired before this session (two sessions after the drop)."""
    return course.story == "repaired" and number >= course.rupture_at + 2


def _in_rupture(course: Course, number: int) -> bool:
    return (
        course.story in ("repaired", "unrepaired")
        and number >= course.rupture_at
        and not _repaired_by(course, number)
    )


def _answers(
    items: list[dict], level: float, rng: random.Random, top: int, noise: float = 0.3
) -> dict[str, int]:
    answers = {}
    for item in items:
        value = round(level + rng.gauss(0, noise))
        value = min(top, max(1, value))
        answers[item["key"]] = (1 + top - value) if item.get("reverse") else value
    return answers


def _submission_id(course: Course, number: int, rater: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{course.code}:{number}:{rater}")


def _accounts(clinic: Clinic) -> dict[str, User]:
    users = {}
    for username, fields in ACCOUNTS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"clinic": clinic, **fields}
        )
        if created:
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        users[username] = user
    for therapist in ("demo-therapist", "demo-therapist2"):
        Supervision.objects.get_or_create(
            supervisor=users["demo-supervisor"], therapist=users[therapist]
        )
    return users


def _course(
    course: Course,
    clinic: Clinic,
    users: dict[str, User],
    instruments: dict[str, Instrument],
    today: dt.datetime,
) -> Client:
    rng = random.Random(course.code)
    therapist = users[course.therapist]
    client, _ = Client.objects.get_or_create(
        clinic=clinic,
        code=course.code,
        defaults={"primary_therapist": therapist, "language": course.language},
    )
    # Weekly sessions; the last one a few days ago and the next one scheduled.
    last = today - dt.timedelta(days=rng.randint(1, 6))
    hour = rng.choice([9, 10, 11, 14, 15, 16])
    for number in range(1, course.sessions + 2):
        starts_at = (last - dt.timedelta(weeks=course.sessions - number)).replace(
            hour=hour, minute=0, second=0, microsecond=0
        )
        if number > course.sessions:
            status = TherapySession.Status.SCHEDULED
        elif number in course.skipped:
            status = rng.choice([TherapySession.Status.CANCELLED, TherapySession.Status.NO_SHOW])
        else:
            status = TherapySession.Status.COMPLETED
        session, _ = TherapySession.objects.get_or_create(
            client=client,
            number=number,
            defaults={"therapist": therapist, "starts_at": starts_at, "status": status},
        )
        if status != TherapySession.Status.COMPLETED:
            continue
        _rate(course, session, instruments, rng)
    return client


def _rate(
    course: Course,
    session: TherapySession,
    instruments: dict[str, Instrument],
    rng: random.Random,
) -> None:
    number = session.number
    level = _client_level(course, number, rng)
    submitted_at = session.starts_at + dt.timedelta(minutes=50)

    client_form = instruments[Rater.CLIENT].definition
    top = client_form["response"]["max"]
    missing = (course.story == "missing" and number > course.sessions - 4) or (
        course.story not in ("ceiling",) and rng.random() < 0.07
    )
    if not missing:
        if course.story == "ceiling":
            answers = {item["key"]: top for item in client_form["items"]}
        else:
            answers = _answers(client_form["items"], level, rng, top)
        dropped = course.story in ("repaired", "unrepaired") and number == course.rupture_at
        tension = dropped or rng.random() < 0.05
        questions = {"tension": "yes" if tension else "no"}
        if tension:
            questions["tension_addressed"] = 2 if dropped else rng.choice([3, 4, 5])
        rating_record(
            session=session,
            instrument=instruments[Rater.CLIENT],
            answers=answers,
            questions=questions,
            submission_id=_submission_id(course, number, Rater.CLIENT),
            language=course.language,
            submitted_at=submitted_at,
        )

    # Therapists usually rate a little lower than clients (Tryon et al. 2007) and notice
    # ruptures less; "overrated" clients are those where the therapist rates much higher.
    therapist_level = level - 0.35 + rng.gauss(0, 0.2)
    if _in_rupture(course, number):
        therapist_level += 0.9
    if course.story == "overrated" and number > course.sessions // 2:
        therapist_level = level + 1.05
    therapist_form = instruments[Rater.THERAPIST].definition
    rating_record(
        session=session,
        instrument=instruments[Rater.THERAPIST],
        answers=_answers(therapist_form["items"], therapist_level, rng, top, noise=0.3),
        submitted_by=session.therapist,
        submission_id=_submission_id(course, number, Rater.THERAPIST),
        submitted_at=submitted_at,
    )


# The therapists keep up with their flags: an episode the story does not tell (the noise of
# the generated ratings) is dealt with once it is older than the client's last
# NEW_SESSIONS held sessions; newer ones are still open (docs/ruptures.md, "The demo's list").
NEW_SESSIONS = 2


def _is_story_episode(course: Course, episode: Episode) -> bool:
    """The episode the course's story is about."""
    if episode.kind != Episode.Kind.RUPTURE:
        return True  # ceiling and missing forms are stories of their own
    if course.story in ("repaired", "unrepaired"):
        return episode.session.number == course.rupture_at
    if course.story == "overrated":
        return {f.rule for f in episode.flags.all()} == {"rater_discrepancy"}
    return False


def _handle_episodes(course: Course, client: Client, therapist: User) -> None:
    """What the therapist has done about the client's open episodes by now: a repaired
    story's rupture was acknowledged with its repair; an episode the story does not tell is
    acknowledged and resolved once it is older than the last NEW_SESSIONS held sessions.
    Everything else stays open. Episodes already handled are left alone (idempotent)."""
    held = list(
        TherapySession.objects.completed()
        .filter(client=client)
        .order_by("-starts_at", "-number")
        .values_list("pk", flat=True)[:NEW_SESSIONS]
    )
    episodes = (
        Episode.objects.open()
        .filter(client=client)
        .select_related("client", "session")
        .prefetch_related("flags")
    )
    for episode in episodes:
        if _is_story_episode(course, episode):
            if course.story == "repaired":
                episode_acknowledge(
                    episode=episode,
                    user=therapist,
                    action_note="We talked about the last session openly; the client felt "
                    "heard and we adjusted the homework.",
                    rupture_type=Episode.RuptureType.WITHDRAWAL,
                    repair_strategy=Episode.RepairStrategy.EXPLORE_TOGETHER,
                )
        elif episode.last_session_id not in held:
            episode = episode_acknowledge(
                episode=episode,
                user=therapist,
                action_note="Checked in with the client about it; nothing to repair.",
            )
            episode_resolve(episode=episode, user=therapist)


def demo_seed() -> dict[str, int]:
    """Create (or complete) the demo clinic. Returns counts of what it holds."""
    with transaction.atomic():
        clinic, _ = Clinic.objects.get_or_create(
            name=CLINIC_NAME, defaults={"timezone": "America/New_York"}
        )
        users = _accounts(clinic)
        instruments = {
            rater: instrument_for(clinic=clinic, rater=rater)
            for rater in (Rater.CLIENT, Rater.THERAPIST)
        }
        today = timezone.now().astimezone(clinic.tzinfo)
        clients = [_course(course, clinic, users, instruments, today) for course in COURSES]
        refreshes = [flags_refresh_for_client(client=client) for client in clients]
        # The therapists' alerts, as the refresh after each rating would have made them
        # (a first seed only: a second one opens no episode).
        notices_create_for_episodes(
            opened=[pk for refresh in refreshes for pk in refresh.opened],
            unrepaired=[pk for refresh in refreshes for pk in refresh.unrepaired],
        )
        for course, client in zip(COURSES, clients, strict=True):
            _handle_episodes(course, client, users[course.therapist])
        # What the story's therapists already acted on, they have read: the unread alerts
        # are the ruptures still open.
        Notice.objects.filter(
            client__clinic=clinic,
            episode__status__in=[Episode.Status.ACKNOWLEDGED, Episode.Status.RESOLVED],
            read_at__isnull=True,
        ).update(read_at=timezone.now())
    return {
        "clients": len(clients),
        "sessions": TherapySession.objects.filter(client__clinic=clinic).count(),
        "ratings": Rating.objects.filter(session__client__clinic=clinic).count(),
    }
