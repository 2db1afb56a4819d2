"""Policy rules stored in the database and editable by staff, and the per-recipient decision that uses them."""
