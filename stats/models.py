"""The statistics app reads the engine's counters (domains.models: DailyVolume, AccountDay,
AccountMailboxDay); it has no models of its own."""
