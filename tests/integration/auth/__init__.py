"""Sign-up, sign-in, recovery and social sign-in."""
