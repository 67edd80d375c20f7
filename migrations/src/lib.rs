//! nkpay-migration: the schema, one file per change; a landed migration is never edited.
