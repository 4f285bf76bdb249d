"""Scale: several instances of one deployment on one PostgreSQL, through a connection pooler."""
