"""Statements run as server-side prepared statements of a PostgreSQL connection (psycopg 3).

A few statements run on every request (a signed-in page's session read, SendEmail's checks and its
INSERT, the quota reservation, the statistics page) take the server longer to plan than to run;
prepared, each is planned once per connection. Django turns psycopg's automatic preparation off
(prepare_threshold None); execute_prepared switches it on for its own execution only, so no other
query of the connection is ever prepared. psycopg names the statement per connection, prepares it
again on a new connection and forgets them all (DEALLOCATE ALL) after a rollback.

A prepared statement can go stale while its connection lives (CONN_MAX_AGE): after `ALTER TABLE …
TYPE` on a column it selects (a migration, from any process) PostgreSQL refuses it ("cached plan
must not change result type", FeatureNotSupported), and after DISCARD ALL or DEALLOCATE on the
connection it no longer exists (InvalidSqlStatementName); psycopg would go on using its name. On
either error the connection's prepared statements are forgotten (psycopg drops them on the server
before it prepares the next one) and then:

- outside a transaction (autocommit), the statement runs once more, unprepared; the next call
  prepares it afresh;
- inside one (an atomic block, whose transaction the error aborted), the error is raised; the
  statement is prepared afresh in the next transaction, savepoint or not.

What Django's cursor does around an execution is done here: the same checks, database errors
raised as Django's, execute wrappers run (the statement still prepared). When queries are logged
(DEBUG, tests counting queries) the statement runs on Django's own cursor instead, so the log shows
its SQL (a prepared statement's would be None); it is then not prepared.

A transaction-mode connection pooler without prepared statement support (PgBouncer before 1.22)
cannot serve these statements: see README, "Running in production".
"""

from __future__ import annotations

import functools

from django.db import DatabaseError, connections

# The attribute of Django's connection object holding the connection's cursor for prepared
# statements (one per psycopg connection: a new one when Django reconnects).
_CURSOR = "_sesconsole_prepared_cursor"


def execute_prepared(alias: str, sql: str, params) -> list[tuple]:
    """Run `sql` on the PostgreSQL connection `alias` as a server-side prepared statement; its rows.

    `params`: a sequence for %s placeholders, a mapping for %(name)s ones. Parameters are sent
    typed by psycopg's binding (not interpolated): give the SQL casts where the type matters
    (`%(day)s::date`), so one plan serves whatever Python types the values come as.
    """
    conn = connections[alias]
    if conn.queries_logged:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    try:
        return _run(conn, sql, params, prepare=True)
    except DatabaseError as exc:
        if not _stale_statement(exc):
            raise
        forgotten = _forget_prepared_statements(conn.connection)
        if conn.in_atomic_block or not conn.get_autocommit():
            raise  # the transaction is aborted; the next one prepares afresh
        if not forgotten:
            conn.close()  # a new connection has no prepared statements
    # Once more, unprepared: psycopg drops the forgotten statements on the server right after it.
    return _run(conn, sql, params, prepare=False)


def _run(conn, sql: str, params, *, prepare: bool) -> list[tuple]:
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    conn.validate_thread_sharing()
    raw = conn.connection
    cursor = conn.__dict__.get(_CURSOR)
    if cursor is None or cursor.connection is not raw or cursor.closed:
        with conn.wrap_database_errors:
            cursor = conn.__dict__[_CURSOR] = _cursor_class()(raw)
    threshold = raw.prepare_threshold
    raw.prepare_threshold = 0  # prepared from the first execution
    cursor.prepare = prepare
    try:
        if conn.execute_wrappers:
            wrapped = conn.make_cursor(cursor)  # (not closed after: the cursor is kept)
            wrapped.execute(sql, params)
            return wrapped.fetchall()
        conn.validate_no_broken_transaction()
        with conn.wrap_database_errors:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        cursor.prepare = True
        raw.prepare_threshold = threshold


def _stale_statement(exc: DatabaseError) -> bool:
    """Whether `exc` is PostgreSQL refusing a prepared statement that changed or no longer exists."""
    from psycopg import errors

    return isinstance(exc.__cause__, (errors.FeatureNotSupported, errors.InvalidSqlStatementName))


def _forget_prepared_statements(raw) -> bool:
    """Make psycopg forget the connection's prepared statements: it prepares each again when next
    run, and sends DEALLOCATE ALL after the connection's next successful statement (so on the
    server too the old ones are gone before a new one is prepared). False if this psycopg has no
    such statement cache (`_prepared`, psycopg 3.0 to 3.3): the caller closes the connection."""
    manager = getattr(raw, "_prepared", None) if raw is not None else None
    if manager is None or not callable(getattr(manager, "clear", None)):
        return False
    manager.clear()
    return True


@functools.cache
def _cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        """Prepares every statement it runs unless told not to (its `prepare`, set by _run): Django's
        cursor wrapper passes no `prepare` of its own."""

        prepare = True

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=self.prepare, binary=binary)

    return PreparedCursor


def model_columns(connection, aliased_models) -> tuple[list[str], list[tuple]]:
    """For SQL written once that reads whole model rows: the SELECT list of every concrete column of
    each (table alias, model), in field order, and the converters the ORM applies to those columns
    (`(place in the row, functions, expression)`, for convert_row)."""
    q = connection.ops.quote_name
    columns, converters = [], []
    for table_alias, model in aliased_models:
        for field in model._meta.concrete_fields:
            columns.append(f"{table_alias}.{q(field.column)}")
            column = field.get_col(model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if functions:
                converters.append((len(columns) - 1, functions, column))
    return columns, converters


def convert_row(row, converters, connection) -> list:
    """`row` as the ORM would read it: each column's converters (from model_columns) applied."""
    row = list(row)
    for place, functions, expression in converters:
        for function in functions:
            row[place] = function(row[place], expression, connection)
    return row
