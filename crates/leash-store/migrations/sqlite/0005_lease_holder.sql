-- Rotation leases name the node (server process) that holds them, so a node
-- never mistakes another's live lease for its own. Additive only: a lease
-- taken before this migration reads back with an empty holder.
ALTER TABLE rotation_state ADD COLUMN lease_holder TEXT;
