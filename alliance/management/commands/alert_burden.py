"""manage.py alert_burden [--clinic NAME] [--scale S|M]: the alert burden (alliance.devtools.burden)
of the demo clinic in the configured database, and of synthetic clinics built in a database
of their own (as manage.py bench builds them)."""

from django.core.management.base import BaseCommand, CommandError

from alliance.devtools.bench.database import bench_database
from alliance.devtools.bench.synthetic import SCALES, build_clinic
from alliance.devtools.burden import AlertBurden, alert_burden
from alliance.devtools.demo import CLINIC_NAME
from alliance.models import Clinic


class Command(BaseCommand):
    help = (
        "Print the alert burden: episodes per 100 held sessions, the share of active clients "
        "on the 'need a look' list, actionable episodes per therapist and flags per episode; "
        "as the clinic stands and as if nothing had been acknowledged."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--clinic",
            action="append",
            help=f"A clinic of the configured database, by name (default: {CLINIC_NAME!r} "
            "when it exists and no --scale is given).",
        )
        parser.add_argument(
            "--scale",
            action="append",
            choices=sorted(SCALES),
            help="Also build a synthetic clinic of this scale in its own database and measure "
            "it (repeatable).",
        )

    def handle(self, *args, clinic, scale, **options):
        names = clinic or ([] if scale else [CLINIC_NAME])
        for name in names:
            found = Clinic.objects.filter(name=name).first()
            if found is None:
                raise CommandError(
                    f"No clinic named {name!r} (manage.py seed_demo makes the demo)."
                )
            self._report(found)
        for size in scale or []:
            with bench_database() as database:
                self.stdout.write(f"Scale {size}: building the clinic in {database} ...")
                bench = build_clinic(SCALES[size])
                self._report(bench.clinic)

    def _report(self, clinic: Clinic) -> None:
        self.stdout.write(f"{clinic.name}")
        for title, burden in (
            ("as it stands", alert_burden(clinic)),
            ("as if nothing were acknowledged", alert_burden(clinic, as_if_unacknowledged=True)),
        ):
            self.stdout.write(f"  {title}:")
            for line in burden_lines(burden):
                self.stdout.write(f"    {line}")


def burden_lines(burden: AlertBurden) -> list[str]:
    per_100 = burden.episodes_per_100_sessions
    share = burden.listed_share
    per_episode = burden.flags_per_episode
    lines = [
        f"held sessions {burden.held_sessions}, active flags {burden.flags}, "
        f"active episodes {burden.episodes}, open (unacknowledged) {burden.open_episodes}",
        "episodes per 100 held sessions: " + ("—" if per_100 is None else f"{per_100:.1f}"),
        f"active clients on the list: {burden.listed_clients}/{burden.active_clients}"
        + ("" if share is None else f" ({share:.0%})"),
        "flags per episode: " + ("—" if per_episode is None else f"{per_episode:.2f}"),
    ]
    spread = burden.actionable_range
    if spread is not None:
        low, high, mean = spread
        lines.append(
            f"actionable episodes per therapist: {low}-{high}, mean {mean:.1f} "
            f"({len(burden.actionable)} therapists)"
        )
    return lines
