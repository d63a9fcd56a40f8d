"""accounts.Session: the console's sessions with the signed-in user's id (accounts.backends).

The sessions in force are copied from django.contrib.sessions' table, so nobody is signed out by the
upgrade; the old table stays (django.contrib.sessions is still installed) and is no longer read. A
session signed in before AUTHENTICATION_BACKENDS named accounts.backends.ConsoleBackend records
Django's ModelBackend (the default then), which django.contrib.auth no longer accepts: its copy
records ConsoleBackend (a ModelBackend: the same users, the same checks) instead.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


BACKEND_KEY = "_auth_user_backend"  # django.contrib.auth.BACKEND_SESSION_KEY
OLD_BACKENDS = {"django.contrib.auth.backends.ModelBackend": "accounts.backends.ConsoleBackend"}


def copy_sessions_in_force(apps, schema_editor):
    from django.contrib.sessions.backends.db import SessionStore

    Old, New = apps.get_model("sessions", "Session"), apps.get_model("accounts", "Session")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    alias = schema_editor.connection.alias
    store = SessionStore()  # the same signing salt as accounts.backends.SessionStore: the data is kept as is
    batch = []
    for old in Old.objects.using(alias).filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        data = store.decode(old.session_data)  # {} for data that does not decode: copied as is, signs nobody in
        session_data = old.session_data
        if data.get(BACKEND_KEY) in OLD_BACKENDS:
            data[BACKEND_KEY] = OLD_BACKENDS[data[BACKEND_KEY]]
            session_data = store.encode(data)
        user_id = data.get("_auth_user_id")
        try:
            user_id = User._meta.pk.to_python(user_id) if user_id is not None else None
        except Exception:
            user_id = None
        batch.append(New(session_key=old.session_key, session_data=session_data,
                         expire_date=old.expire_date, user_id=user_id))
        if len(batch) == 2000:
            New.objects.using(alias).bulk_create(batch)
            batch = []
    New.objects.using(alias).bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_rate_count'),
        ('sessions', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Session',
            fields=[
                ('session_key', models.CharField(max_length=40, primary_key=True, serialize=False, verbose_name='session key')),
                ('session_data', models.TextField(verbose_name='session data')),
                ('expire_date', models.DateTimeField(db_index=True, verbose_name='expire date')),
                ('user', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='sessions', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'session',
                'verbose_name_plural': 'sessions',
                'abstract': False,
            },
        ),
        migrations.RunPython(copy_sessions_in_force, migrations.RunPython.noop),
    ]
