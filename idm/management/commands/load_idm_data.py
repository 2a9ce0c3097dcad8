from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from idm.dataset import DATASET_PATH, DatasetError, dataset_load


class Command(BaseCommand):
    help = _(
        "Load the IDM seed dataset (the 2005 dialogue, its Council session, workshops, theme "
        "proposals, organisations and recommendations). Safe to run again: nothing is duplicated "
        "and records already there are kept as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--path", type=Path, default=DATASET_PATH, help=_("Dataset JSON file to load.")
        )

    def handle(self, *args, path: Path, **options):
        try:
            result = dataset_load(path=path)
        except DatasetError as error:
            raise CommandError(str(error)) from error
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    _("IDM dataset: %(count)s new records.") % {"count": result.total_created}
                )
            )
        if options["verbosity"] >= 2:
            self.stdout.write(result.summary())
