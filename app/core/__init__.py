"""The domain layer: what more than one blueprint needs, free of requests, blueprints and page templates."""
