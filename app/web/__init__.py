"""Web glue shared by every blueprint: browser session, forms, notices, errors, headers, templating."""
