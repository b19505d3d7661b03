"""What every layer may use: stable ids, the one registry mechanism behind every extension axis
(objectives, measures, model families), devices and thread pinning, the precision verdict, and where
caches live (:mod:`.paths`). Nothing here knows about models, data or pytest."""
