"""Master-data sync (issue 13): a mirror of the accounting system's master data per environment, administration
and entity, kept by incremental, full, on-send and manual syncs that never stand in the way of bookings."""
