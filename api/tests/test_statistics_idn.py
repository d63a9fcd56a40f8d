"""GetStatisticsReport's ReceivingMailboxType is typed text: a non-ASCII one finds the rows of its
IDNA A-label, unless the account has rows of that type stored as typed (written before A-labels)."""

from stats.tests import traffic
from stats.tests.test_mailbox_type_legacy_idn import NEW, _traffic
from stats.tests.traffic import TODAY

clock = traffic.clock


def test_the_api_converts_typed_text_unless_it_is_a_stored_type(api, account, clock):
    _traffic(account)

    def requested(mailbox_type):
        data = api("GetStatisticsReport", {"StartDate": TODAY.isoformat(), "EndDate": TODAY.isoformat(),
                                           "ReceivingMailboxType": mailbox_type})
        return data["OverallVolume"]["RequestCount"]

    assert requested("Müller.example") == 7  # typed in Unicode: its A-label's rows
    assert requested(NEW) == 7
    assert requested("BÜCHER.example") == 3  # stored as typed (older rows): those rows
    assert requested("straße.example") == 0  # neither: nothing
    assert requested("Gmail.COM") == 11
