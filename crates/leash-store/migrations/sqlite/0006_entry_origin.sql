-- Where a moved or copied version came from (opaque to the store: the server's JSON, never a value).
ALTER TABLE change_entries ADD COLUMN origin TEXT;
