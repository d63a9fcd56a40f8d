"""core.prepared: a statement prepared on a connection keeps working after the schema under it
changes (ALTER TABLE … TYPE from another process, a migration) or its prepared statements are
dropped (DISCARD ALL), instead of failing until the connection is closed (CONN_MAX_AGE)."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.prepared import execute_prepared

pytestmark = [
    pytest.mark.postgres(reason="server-side prepared statements are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]

SELECT = "SELECT v FROM prepared_probe WHERE id = %(id)s::int"


@pytest.fixture
def probe():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE prepared_probe (id int PRIMARY KEY, v int)")
        cursor.execute("INSERT INTO prepared_probe VALUES (1, 42)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS prepared_probe")


def other_process(sql: str) -> None:
    """Run `sql` on a connection of its own, as a migration run by another process would."""
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        other.execute(sql)
    finally:
        other.close()


def server_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_statement_is_prepared_on_the_connection(probe):
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]
    assert any("prepared_probe" in text for text in server_statements())


def test_a_column_whose_type_changed_is_read_again(probe):
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]
    other_process("ALTER TABLE prepared_probe ALTER COLUMN v TYPE text")
    assert execute_prepared("default", SELECT, {"id": 1}) == [("42",)]
    assert execute_prepared("default", SELECT, {"id": 1}) == [("42",)]  # and prepared again after
    assert [text for text in server_statements() if "prepared_probe" in text] == [SELECT.replace("%(id)s", "$1")]


def test_statements_dropped_on_the_connection_are_prepared_again(probe):
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]
    with connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]


def test_inside_a_transaction_the_error_is_raised_and_the_next_transaction_prepares_afresh(probe):
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]
    other_process("ALTER TABLE prepared_probe ALTER COLUMN v TYPE text")
    with transaction.atomic():
        with pytest.raises(DatabaseError):
            with transaction.atomic():  # a savepoint: the outer transaction goes on after it
                execute_prepared("default", SELECT, {"id": 1})
        assert execute_prepared("default", SELECT, {"id": 1}) == [("42",)]
    assert execute_prepared("default", SELECT, {"id": 1}) == [("42",)]


def test_other_database_errors_are_raised_as_they_are(probe):
    with pytest.raises(DatabaseError):
        execute_prepared("default", "SELECT v FROM prepared_probe WHERE id = 1 / %(zero)s::int", {"zero": 0})
    assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]


def test_logged_queries_show_their_sql(probe):
    with CaptureQueriesContext(connection) as captured:
        assert execute_prepared("default", SELECT, {"id": 1}) == [(42,)]
    assert [query["sql"] for query in captured.captured_queries] == [
        "SELECT v FROM prepared_probe WHERE id = 1::int"
    ]


# --- The statements that run prepared: each still answers after a column it reads changes type ------


@pytest.fixture
def retyped():
    """retyped(table, column, new_type, old_type): change a column's type from another connection,
    as a migration would; changed back (and this connection closed, its statements with it) after."""
    changed = []

    def retype(table, column, new_type, old_type):
        other_process(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {new_type}')
        changed.append((table, column, old_type))

    yield retype
    for table, column, old_type in reversed(changed):
        other_process(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {old_type}')
    connection.close()


def test_a_session_still_signs_in_after_its_table_changes(owner, retyped):
    from accounts.backends import ConsoleBackend, SessionStore

    store = SessionStore()
    store.update({"_auth_user_id": str(owner.pk), "_auth_user_backend": "accounts.backends.ConsoleBackend"})
    store.save()
    assert SessionStore(store.session_key).load()["_auth_user_id"] == str(owner.pk)  # prepared
    assert ConsoleBackend().get_user(owner.pk) == owner  # (the user's statement, prepared)
    retyped("accounts_session", "session_data", "varchar(100000)", "text")
    retyped("auth_user", "first_name", "text", "varchar(150)")
    again = SessionStore(store.session_key)
    assert again.load()["_auth_user_id"] == str(owner.pk)
    assert again.loaded_user == owner
    assert ConsoleBackend().get_user(owner.pk) == owner


def test_sendemail_still_sends_after_the_template_table_changes(account, verified_domain, retyped):
    from domains.models import DomainDay
    from sending import services
    from sending.models import Message

    services.create_sender_address(account, "news@mail.alice.example", "Alice News")
    template = services.create_template(account, name="Hi", subject="Hello {{name}}", text="Hi {{name}}.")

    def send(to):
        return services.send_email(account, from_address="news@mail.alice.example", destinations=[to],
                                   template_id=template.pk, template_data={"name": "Ann"})

    send("ann@example.org")  # the checks' statement and the INSERT prepared
    retyped("sending_template", "subject", "text", "varchar(500)")  # read by the checks, outside the transaction
    send("bob@example.org")
    send("cy@example.org")
    assert sorted(Message.objects.values_list("recipient", flat=True)) == [
        "ann@example.org", "bob@example.org", "cy@example.org"]

    # The INSERT runs inside the send's transaction: the one send that meets its change is refused
    # (rolled back whole, its reservation with it); the next is prepared afresh.
    sent = DomainDay.objects.get(domain=verified_domain).sent
    retyped("sending_message", "id", "integer", "bigint")  # the INSERT's RETURNING
    with pytest.raises(DatabaseError):
        send("dee@example.org")
    assert DomainDay.objects.get(domain=verified_domain).sent == sent
    send("eve@example.org")
    assert Message.objects.count() == 4 and DomainDay.objects.get(domain=verified_domain).sent == sent + 1


def test_sendemail_statements_are_logged_with_their_sql(account, verified_domain):
    from sending import services

    services.create_sender_address(account, "news@mail.alice.example", "Alice News")
    template = services.create_template(account, name="Hi", subject="Hello {{name}}", text="Hi {{name}}.")
    with CaptureQueriesContext(connection) as captured:
        services.send_email(account, from_address="news@mail.alice.example", destinations=["ann@example.org"],
                            template_id=template.pk, template_data={"name": "Ann"})
    texts = [query["sql"] for query in captured.captured_queries]
    assert all(texts), texts  # none logged as None (the quota reservation's included)
    assert any('"sending_suppression"' in text and "ann@example.org" in text for text in texts)
    assert any(text.startswith('INSERT INTO "sending_message"') for text in texts)


def test_a_quota_reservation_still_counts_after_the_day_table_changes(verified_domain, retyped):
    from domains.models import DomainDay
    from domains.reputation.services import reserve_quota

    assert reserve_quota(verified_domain, ["ann@example.org"]).ok  # prepared (no transaction around it)
    retyped("domains_domainday", "cap", "numeric", "bigint")  # returned by the reservation
    assert reserve_quota(verified_domain, ["bob@example.org"]).ok
    assert reserve_quota(verified_domain, ["cy@example.org"]).ok
    assert DomainDay.objects.get(domain=verified_domain).sent == 3
