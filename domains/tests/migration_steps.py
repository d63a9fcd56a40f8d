"""Moving a test database to a migration state and back (tests of what an older install becomes)."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def migrate(targets):
    """Migrate to `targets` (a list of (app, migration)); the historical apps of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps
