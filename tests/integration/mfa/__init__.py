"""Second factors: challenge, enrolment, step-up."""
