"""CSV import into recipient lists: streamed, good rows load, each bad row listed with its line."""

import io

import pytest

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists.services import ListError
from batches.models import BatchTask, Receiver, ReceiverList, ReceiverListError


@pytest.fixture
def rl(account):
    return list_services.create_list(account, "Newsletter", "monthly")


def load(rl, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    result = importer.import_csv(rl, io.BytesIO(data))
    rl.refresh_from_db()
    return result


def emails(rl):
    return list(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True))


def errors(rl):
    return list(ReceiverListError.objects.filter(receiver_list=rl).values_list("line", "reason"))


def test_a_file_with_a_header_loads_its_variables(rl):
    result = load(rl, "email,name,city\nann@example.com,Ann,Paris\nbob@example.com,Bob,Oslo\n")
    assert (result.loaded, result.invalid, result.duplicates) == (2, 0, 0)
    assert Receiver.objects.get(email="ann@example.com").template_data == {"name": "Ann", "city": "Paris"}
    assert (rl.status, rl.count, rl.invalid_count, rl.upload_error) == (ReceiverList.DONE, 2, 0, "")


def test_a_file_without_a_header_is_one_address_per_line(rl):
    load(rl, "ann@example.com\r\nBob@Example.com\r\n")
    assert emails(rl) == ["ann@example.com", "bob@example.com"]
    assert Receiver.objects.get(email="ann@example.com").template_data == {}


def test_a_chinese_header_name_is_a_header(rl):
    load(rl, "邮箱,name\nann@example.com,安\n")
    assert Receiver.objects.get(email="ann@example.com").template_data == {"name": "安"}


def test_a_byte_order_mark_is_ignored(rl):
    load(rl, b"\xef\xbb\xbfemail,name\nann@example.com,Ann\n")
    assert emails(rl) == ["ann@example.com"]
    assert errors(rl) == []


def test_a_byte_order_mark_before_an_address_is_ignored(rl):
    load(rl, b"\xef\xbb\xbfann@example.com\n")
    assert emails(rl) == ["ann@example.com"]


def test_each_broken_row_is_listed_with_its_line_while_good_rows_load(rl):
    text = (
        "email,name\n"                       # 1
        "ann@example.com,Ann\n"              # 2
        "not-an-address,X\n"                 # 3
        "bob@example.com\n"                  # 4 one column short
        "cy@example.com,<b>Cy</b>\n"         # 5 HTML in a variable
        "\n"                                 # 6 blank: skipped silently
        "dee@example.com,\"Dee, Jr\"\n"      # 7 quoted comma
        ",Nobody\n"                          # 8 empty address
        "eve@example.com,\"open\n"           # 9 unclosed quote
        "fay@example.com,a < b\n"            # 10 not HTML
    )
    result = load(rl, text)
    assert emails(rl) == ["ann@example.com", "dee@example.com", "fay@example.com"]
    assert Receiver.objects.get(email="dee@example.com").template_data == {"name": "Dee, Jr"}
    found = errors(rl)
    assert [line for line, _ in found] == [3, 4, 5, 8, 9]
    reasons = dict(found)
    assert "not a valid email address" in reasons[3]
    assert "1 columns where the header has 2" in reasons[4]
    assert "must not contain HTML" in reasons[5]
    assert "empty" in reasons[8]
    assert "quotes" in reasons[9]
    assert ReceiverListError.objects.get(line=5).content == "cy@example.com,<b>Cy</b>"
    assert (result.loaded, result.invalid) == (3, 5)
    assert (rl.count, rl.invalid_count, rl.status) == (3, 5, ReceiverList.DONE)


def test_duplicates_in_the_file_and_in_the_list_are_dropped_and_counted(rl):
    load(rl, "ann@example.com\n")
    result = load(rl, "ann@example.com\nbob@example.com\nBOB@example.com\nbob@example.com\n")
    assert (result.loaded, result.duplicates) == (1, 3)
    assert emails(rl) == ["ann@example.com", "bob@example.com"]
    assert (rl.count, rl.duplicate_count) == (2, 3)


def test_duplicates_across_batches_are_counted(rl, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 3)
    rows = [f"r{i}@example.com" for i in range(10)]
    result = load(rl, "\n".join(rows + rows[:4]) + "\n")
    assert (result.loaded, result.duplicates) == (10, 4)
    assert (rl.count, rl.duplicate_count) == (10, 4)


def test_a_file_that_is_not_utf8_stops_at_the_bad_line_and_keeps_what_loaded(rl):
    data = b"email,name\nann@example.com,Ann\n" + "bob@example.com,Zoë\n".encode("latin-1") + b"cy@example.com,C\n"
    load(rl, data)
    assert emails(rl) == ["ann@example.com"]
    assert rl.upload_error.startswith("The file is not UTF-8 (line 3)")
    assert errors(rl) == [(3, "not UTF-8")]
    assert rl.status == ReceiverList.DONE


def test_a_utf16_file_is_refused_as_not_utf8_at_line_one(rl):
    load(rl, "email\nann@example.com\n".encode("utf-16"))
    assert emails(rl) == []
    assert "line 1" in rl.upload_error


def test_a_header_with_a_bad_variable_name_loads_nothing(rl):
    load(rl, "email,first name\nann@example.com,Ann\n")
    assert emails(rl) == []
    assert "first name" in rl.upload_error


def test_rows_with_columns_but_no_header_are_refused(rl):
    load(rl, "ann@example.com,Ann\nbob@example.com\n")
    assert emails(rl) == ["bob@example.com"]
    assert errors(rl) == [(1, "2 columns, but the file has no header row naming the variables")]


def test_too_long_values_and_lines_are_refused(rl):
    big = "x" * 900
    huge = "y" * (importer.MAX_LINE_BYTES + 10)
    load(rl, f"email,v\nann@example.com,{big}\nbob@example.com,{huge}\ncy@example.com,ok\n")
    assert emails(rl) == ["cy@example.com"]
    assert errors(rl) == [
        (2, "the template variables are longer than 800 bytes"),
        (3, f"the line is longer than {importer.MAX_LINE_BYTES} bytes"),
    ]
    assert len(ReceiverListError.objects.get(line=2).content) == importer.MAX_CONTENT


def test_progress_is_written_after_each_batch(rl, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)
    seen = []
    real_flush = importer._Loader.flush

    def spy(self, **progress):
        real_flush(self, **progress)
        seen.append(ReceiverList.objects.values_list("status", "count", "bytes_done").get(pk=rl.pk))

    monkeypatch.setattr(importer._Loader, "flush", spy)
    data = "".join(f"r{i}@example.com\n" for i in range(5)).encode()
    importer.import_csv(rl, io.BytesIO(data))
    assert seen[0] == (ReceiverList.UPLOADING, 2, 2 * len(b"r0@example.com\n"))
    assert seen[1][:2] == (ReceiverList.UPLOADING, 4)
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.bytes_done, rl.bytes_total) == (ReceiverList.DONE, 5, len(data), len(data))


def test_the_import_reads_the_file_line_by_line():
    reads = []

    class Recording(io.BytesIO):
        def readline(self, size=-1):
            reads.append(size)
            return super().readline(size)

        def read(self, size=-1):
            raise AssertionError("the whole file must never be read at once")

    lines = importer._Lines(Recording(b"a@example.com\nb@example.com\n"))
    assert [text for _, text in lines] == ["a@example.com\n", "b@example.com\n"]
    assert all(0 < size <= importer.MAX_LINE_BYTES + 1 for size in reads)


def test_list_names_are_unique_per_account(account, other_account, rl):
    with pytest.raises(ListError) as exc:
        list_services.create_list(account, "Newsletter")
    assert exc.value.code == "InvalidParameterValue.RepeatReceiverName"
    assert list_services.create_list(other_account, "Newsletter").account == other_account
    assert ReceiverList.objects.filter(account=account).count() == 1


def test_another_accounts_list_reads_as_missing(other_account, rl):
    with pytest.raises(ListError) as exc:
        list_services.list_for_account(other_account, rl.pk)
    assert exc.value.code == "OperationDenied.ReceiverNotExist"


def test_an_api_addition_with_a_bad_address_writes_nothing(rl):
    with pytest.raises(ListError) as exc:
        importer.add_receivers(rl, [("ann@example.com", {}), ("nope", {})])
    assert exc.value.code == "InvalidParameterValue.ReceiverEmailInvalid"
    assert Receiver.objects.count() == 0


def test_an_api_addition_counts_empty_too_long_and_repeated_rows(rl):
    result = importer.add_receivers(rl, [
        ("ann@example.com", {"n": "A"}), ("", {}), ("a" * 250 + "@example.com", {}),
        ("ANN@example.com", {}), ("bob@example.com", {"n": "x" * 900}),
    ])
    assert (result.loaded, result.empty, result.too_long, result.duplicates) == (1, 1, 2, 1)
    rl.refresh_from_db()
    assert (rl.count, rl.status) == (1, ReceiverList.DONE)


def test_a_list_being_uploaded_takes_no_additions_and_cannot_be_deleted(rl):
    list_services.begin_upload(rl, 100)
    with pytest.raises(ListError) as exc:
        importer.add_receivers(rl, [("ann@example.com", {})])
    assert exc.value.code == "OperationDenied.ReceiverIsOperating"
    with pytest.raises(ListError):
        list_services.begin_upload(rl, 100)
    with pytest.raises(ListError):
        list_services.delete_list(rl)
    assert ReceiverList.objects.filter(pk=rl.pk).exists()


def test_deleting_a_list_removes_its_recipients(rl):
    load(rl, "ann@example.com\nbad\n")
    list_services.delete_list(rl)
    assert (ReceiverList.objects.count(), Receiver.objects.count(), ReceiverListError.objects.count()) == (0, 0, 0)


def test_a_list_used_by_an_active_task_cannot_be_deleted(rl, account, verified_domain):
    from sending.models import SenderAddress, Template

    sender = SenderAddress.objects.create(account=account, domain=verified_domain, email="news@mail.alice.example")
    template = Template.objects.create(account=account, name="t", subject="s", text="hi")
    load(rl, "ann@example.com\n")
    BatchTask.objects.create(
        account=account, domain=verified_domain, sender=sender, template=template, subject="s",
        receiver_list=rl, status=BatchTask.PAUSED,
    )
    with pytest.raises(ListError) as exc:
        list_services.delete_list(rl)
    assert "cancel it first" in exc.value.message
    with pytest.raises(ListError):
        importer.add_receivers(rl, [("bob@example.com", {})])
    assert Receiver.objects.filter(receiver_list=rl).count() == 1


def test_addresses_are_judged_exactly_as_djangos_validator_judges_them(rl):
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from core.addresses import to_ascii

    addresses = [
        "ann@example.com", "a..b@example.com", ".a@example.com", '"q t"@example.com', "a@[127.0.0.1]", "a@[::1]",
        "a@-x.example", "a@x-.example", "a@localhost", "a@x", "a@bücher.de", "ü@example.com", "a@b@example.com",
        "a@.example", "a@x.o", "a@x.123", "a@" + "x" * 64 + ".example", "bob@example.com", "cy@EXAMPLE.com",
    ]

    def valid(address):
        try:
            validate_email(address)
        except ValidationError:
            return False
        return True

    # Twice: the second pass meets every domain again (their verdicts are remembered).
    for _ in range(2):
        rl = list_services.create_list(rl.account, f"judged {_}")
        result = load(rl, "email\n" + "\n".join(addresses) + "\n")
        # A valid non-ASCII domain is stored as its IDNA A-label (a@bücher.de → a@xn--bcher-kva.de).
        expected = [to_ascii(a).lower() for a in addresses if valid(a)]
        assert emails(rl) == expected
        assert result.invalid == len(addresses) - len(expected) == len(errors(rl))


def test_template_data_up_to_the_limit_loads_and_one_byte_more_is_refused(rl):
    name = "n" * (importer.MAX_TEMPLATE_DATA_BYTES - len('{"v": ""}'))  # exactly 800 bytes as JSON
    load(rl, f'email,v\nann@example.com,{name}\nbob@example.com,{name}x\ncy@example.com,"{"é" * 395}"\n')
    assert emails(rl) == ["ann@example.com", "cy@example.com"]
    assert errors(rl) == [(3, "the template variables are longer than 800 bytes")]
