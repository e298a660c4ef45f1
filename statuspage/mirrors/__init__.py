"""Mirror rules (issue 16, seed 001): one accounting system's master data kept in another, reconciled by a key in
the service's mirror and written through the outbox."""
