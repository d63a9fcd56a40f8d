"""Several accounts may claim a domain name; one verified claim per name; a verification token per claim.

Rows of an older install each get their own random token. Their status is kept: a domain verified
before stays verified (its SPF/DKIM/DMARC proved it then); the token is asked for by new verifications.
"""

import secrets

import django.db.models.deletion
from django.db import migrations, models

import domains.models


def give_each_claim_a_token(apps, schema_editor):
    SenderDomain = apps.get_model("domains", "SenderDomain")
    for pk in SenderDomain.objects.filter(verification_token="").values_list("pk", flat=True).iterator():
        SenderDomain.objects.filter(pk=pk).update(verification_token=secrets.token_hex(16))


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_session'),
        ('domains', '0003_day_counts_simulated_mail'),
    ]

    operations = [
        migrations.AddField(
            model_name='senderdomain',
            name='verification_token',
            field=models.CharField(default='', editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='senderdomain',
            name='name',
            field=models.CharField(db_index=True, max_length=253),
        ),
        migrations.AddConstraint(
            model_name='senderdomain',
            constraint=models.UniqueConstraint(fields=('account', 'name'), name='one_claim_per_account_and_name'),
        ),
        # After the constraint: the unique (account, name) index serves the account's lookups.
        migrations.AlterField(
            model_name='senderdomain',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='domains', to='accounts.account'),
        ),
        migrations.AddConstraint(
            model_name='senderdomain',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'verified')), fields=('name',), name='one_verified_claim_per_name'),
        ),
        # Last: rows updated before an ALTER TABLE in the same transaction can stop PostgreSQL's ALTER.
        migrations.RunPython(give_each_claim_a_token, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='senderdomain',
            name='verification_token',
            field=models.CharField(default=domains.models.new_verification_token, editable=False, max_length=64),
        ),
    ]
