"""Recipient-list pages: upload a CSV, watch its progress, see the refused rows; tenant scoping."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists.tasks import import_list
from batches.models import Receiver, ReceiverList, ReceiverListError

CSV = b"\xef\xbb\xbfemail,name\nann@example.com,Ann\nnot-an-address,X\nbob@example.com,<i>Bob</i>\ncy@example.com,Cy\n"


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path / "uploads"


def test_an_upload_is_saved_then_loaded_by_the_task(signed_in, uploads, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(import_list, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("lists"), {
            "name": "Newsletter", "description": "monthly", "file": SimpleUploadedFile("list.csv", CSV, "text/csv"),
        })
    rl = ReceiverList.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("list-detail", args=[rl.pk])
    assert (rl.status, rl.bytes_total, rl.bytes_done) == (ReceiverList.UPLOADING, len(CSV), 0)
    [(list_id, path)] = queued
    assert list_id == rl.pk and Path(path).parent == uploads and Path(path).read_bytes() == CSV

    page = signed_in.get(reverse("list-detail", args=[rl.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "<progress" in page

    import_list(list_id, path)  # the worker, run here
    assert not Path(path).exists()
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.invalid_count, rl.bytes_done) == (ReceiverList.DONE, 2, 2, len(CSV))

    page = signed_in.get(reverse("list-detail", args=[rl.pk])).content.decode()
    assert "every 1s" not in page
    assert "ann@example.com" in page and "cy@example.com" in page
    assert "Refused rows" in page
    assert "not a valid email address" in page and "must not contain HTML" in page
    assert "&lt;i&gt;Bob&lt;/i&gt;" in page  # the refused content is shown, escaped


def test_the_progress_fragment_polls_while_loading_and_stops_when_done(signed_in, account):
    rl = list_services.create_list(account, "L")
    list_services.begin_upload(rl, 1000)
    ReceiverList.objects.filter(pk=rl.pk).update(bytes_done=250, count=7)
    url = reverse("list-progress", args=[rl.pk])

    polling = signed_in.get(url, headers={"HX-Request": "true"})
    assert polling.status_code == 200
    body = polling.content.decode()
    assert 'value="250"' in body and 'max="1000"' in body and ">7<" in body
    assert "<html" not in body

    ReceiverList.objects.filter(pk=rl.pk).update(status=ReceiverList.DONE, bytes_done=1000, count=9)
    done = signed_in.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    assert done["HX-Refresh"] == "true"
    assert ">9<" in done.content.decode() and "every 1s" not in done.content.decode()


def test_a_file_that_is_not_utf8_shows_the_error(signed_in, account, uploads):
    rl = list_services.create_list(account, "L")
    path = uploads / "x.csv"
    uploads.mkdir(parents=True)
    path.write_bytes("ann@example.com\nzoë@example.com\n".encode("latin-1"))
    list_services.begin_upload(rl, path.stat().st_size)
    import_list(rl.pk, str(path))
    page = signed_in.get(reverse("list-detail", args=[rl.pk])).content.decode()
    assert "The file is not UTF-8 (line 2)" in page
    assert "ann@example.com" in page


def test_a_form_without_a_file_or_with_a_taken_name_writes_nothing(signed_in, account, uploads):
    list_services.create_list(account, "Taken")
    response = signed_in.post(reverse("lists"), {"name": "New"})
    assert response.status_code == 400
    response = signed_in.post(reverse("lists"), {"name": "Taken", "file": SimpleUploadedFile("a.csv", b"a@example.com\n")})
    assert response.status_code == 400
    assert "exists already" in response.content.decode()
    assert ReceiverList.objects.count() == 1
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_more_recipients_can_be_uploaded_to_a_list(signed_in, account, uploads, monkeypatch, django_capture_on_commit_callbacks):
    rl = list_services.create_list(account, "L")
    importer.add_receivers(rl, [("ann@example.com", {})])
    queued = []
    monkeypatch.setattr(import_list, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("list-upload", args=[rl.pk]), {
            "file": SimpleUploadedFile("more.csv", b"ann@example.com\nbob@example.com\n"),
        })
    assert response.status_code == 302
    import_list(*queued[0])
    rl.refresh_from_db()
    assert (rl.count, rl.duplicate_count) == (2, 1)


def test_a_list_is_deleted_after_confirmation(signed_in, account):
    rl = list_services.create_list(account, "L")
    importer.add_receivers(rl, [("ann@example.com", {})])
    assert "Delete the list" in signed_in.get(reverse("list-delete", args=[rl.pk])).content.decode()
    response = signed_in.post(reverse("list-delete", args=[rl.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("lists")
    assert (ReceiverList.objects.count(), Receiver.objects.count()) == (0, 0)


def test_a_list_being_uploaded_is_not_deleted(signed_in, account):
    rl = list_services.create_list(account, "L")
    list_services.begin_upload(rl, 10)
    response = signed_in.post(reverse("list-delete", args=[rl.pk]), follow=True)
    assert "being uploaded" in response.content.decode()
    assert ReceiverList.objects.count() == 1


def test_the_lists_page_shows_counts(signed_in, account):
    rl = list_services.create_list(account, "Newsletter")
    importer.add_receivers(rl, [("ann@example.com", {}), ("bob@example.com", {})])
    page = signed_in.get(reverse("lists")).content.decode()
    assert "Newsletter" in page and reverse("list-detail", args=[rl.pk]) in page
    assert 'aria-current="page"' in page


def test_receivers_and_refused_rows_are_paginated(signed_in, account):
    rl = list_services.create_list(account, "L")
    importer.add_receivers(rl, [(f"r{i:03}@example.com", {}) for i in range(120)])
    ReceiverListError.objects.bulk_create(
        [ReceiverListError(receiver_list=rl, line=i, reason=f"reason {i}") for i in range(2, 62)]
    )
    url = reverse("list-detail", args=[rl.pk])
    first = signed_in.get(url).content.decode()
    assert "r000@example.com" in first and "r050@example.com" not in first
    assert "reason 51" in first and "reason 52" not in first
    third = signed_in.get(url + "?page=3&errors=2").content.decode()
    assert "r100@example.com" in third and "r000@example.com" not in third
    assert "reason 52" in third


def test_an_outsider_gets_404_on_every_list_page(client, outsider, account):
    rl = list_services.create_list(account, "Private")
    importer.add_receivers(rl, [("ann@example.com", {})])
    client.force_login(outsider)
    for name in ("list-detail", "list-progress", "list-delete"):
        assert client.get(reverse(name, args=[rl.pk])).status_code == 404, name
    assert client.post(reverse("list-delete", args=[rl.pk])).status_code == 404
    assert client.post(reverse("list-upload", args=[rl.pk]), {"file": SimpleUploadedFile("a.csv", b"x@example.com\n")}).status_code == 404
    assert "Private" not in client.get(reverse("lists")).content.decode()
    assert Receiver.objects.filter(receiver_list=rl).count() == 1
    assert ReceiverList.objects.get().status == ReceiverList.DONE


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("lists"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_an_uploaded_row_whose_variables_the_review_refuses_is_listed_with_its_line_and_reason(
    signed_in, uploads, monkeypatch, django_capture_on_commit_callbacks,
):
    from sending.models import SensitiveWord

    SensitiveWord.objects.create(word="gambling")
    csv = (
        "email,name,note\n"
        "ann@example.com,Ann,see you soon\n"
        "bob@example.com,Bob,Best gambling odds\n"  # line 3
        "cy@example.com,Cy,WeChat: abc_123\n"
        'dee@example.com,Dee,"加微信 abc123"\n'
        "eve@example.com,Eve,https://t.me/joinchat/AbCdEf\n"  # line 6
        "fay@example.com,Fay,the address book\n"
    ).encode()
    queued = []
    monkeypatch.setattr(import_list, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(reverse("lists"), {"name": "Leads", "file": SimpleUploadedFile("leads.csv", csv, "text/csv")})
    [(list_id, path)] = queued

    import_list(list_id, path)  # the worker, run here

    rl = ReceiverList.objects.get(pk=list_id)
    assert (rl.status, rl.count, rl.invalid_count) == (ReceiverList.DONE, 2, 4)
    assert sorted(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True)) == [
        "ann@example.com", "fay@example.com",
    ]
    refused = {e.line: e.reason for e in ReceiverListError.objects.filter(receiver_list=rl)}
    assert sorted(refused) == [3, 4, 5, 6]
    assert refused[3].startswith('[sensitive_word] (note) Contains "gambling" from the sensitive-word list.')
    assert refused[4].startswith("[wechat] (note)") and refused[5].startswith("[wechat] (note)")
    assert refused[6].startswith("[group_invitation] (note)")
    page = signed_in.get(reverse("list-detail", args=[rl.pk])).content.decode()
    assert "Refused rows" in page and "WeChat contact details are not allowed." in page
    assert "Contains &quot;gambling&quot; from the sensitive-word list." in page
