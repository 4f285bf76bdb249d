"""Outgoing mail: rendered text+HTML, delivered over real SMTP, failures logged without the body."""

from __future__ import annotations

from app.core.mail import SmtpSettings, deliver, outbox, send_mail
from app.models import User
from app.web.notices import render_mail
from tests.mailbox import free_port

LINK = "https://id.example/reset-password/reset_SECRETtokenVALUE123?a=1&b=2"


def reset_mail(to: str = "ada@example.com", display_name: str = "Ada"):
    user = User(email=to, display_name=display_name)
    return render_mail("reset_password", to=to, subject="Choose a new password", user=user, link=LINK)


def test_a_rendered_mail_has_matching_text_and_html_bodies(app):
    mail = reset_mail()
    assert (mail.to, mail.subject) == ("ada@example.com", "Choose a new password")
    assert LINK in mail.text and "<" not in mail.text
    assert 'href="https://id.example/reset-password/reset_SECRETtokenVALUE123?a=1&amp;b=2"' in mail.html
    assert app.config["SERVICE_NAME"] in mail.text and app.config["SERVICE_NAME"] in mail.html


def test_html_mail_escapes_what_a_person_typed(app):
    mail = reset_mail(display_name='<img src=x onerror="alert(1)">')
    assert "<img" not in mail.html and "&lt;img" in mail.html


def test_a_sent_mail_arrives_as_multipart_text_and_html_with_headers(app, mailbox):
    send_mail(reset_mail())
    received = mailbox.wait_for("ada@example.com", "Choose a new password")
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == app.config["MAIL_FROM"]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Choose a new password"
    assert message["Date"] and message["Message-ID"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert LINK in received.text and "reset_SECRETtokenVALUE123" in received.html


def test_without_mail_sync_delivery_happens_in_the_background(app_factory, mailbox):
    app = app_factory(MAIL_SYNC=False)
    with app.app_context():
        send_mail(reset_mail(to="bg@example.com"))
    outbox.join()
    assert len(mailbox.to("bg@example.com")) == 1


def test_without_an_smtp_host_the_mail_is_logged_for_the_developer_and_not_sent(app_factory, mailbox, capture_app_log):
    app = app_factory(SMTP_HOST=None)
    log = capture_app_log()
    with app.app_context():
        send_mail(reset_mail(to="dev@example.com"))
    assert mailbox.to("dev@example.com") == []
    output = log.getvalue()
    assert "mail not sent (no IDP_SMTP_HOST)" in output and "dev@example.com" in output
    assert LINK in output  # the developer needs the link to click it


def test_an_unreachable_smtp_server_is_logged_without_the_body_and_does_not_raise(app_factory, mailbox, capture_app_log):
    app = app_factory(SMTP_PORT=free_port())  # nothing listens there
    log = capture_app_log()
    with app.app_context():
        send_mail(reset_mail(to="down@example.com"))
    output = log.getvalue()
    assert "mail delivery failed: ConnectionRefusedError" in output and "Choose a new password" in output
    assert "SECRETtoken" not in output and "reset-password" not in output
    assert mailbox.to("down@example.com") == []


def test_deliver_reports_failure_as_false(app):
    settings = SmtpSettings.from_config({**app.config, "SMTP_PORT": free_port()})
    assert deliver(reset_mail(), settings) is False


def test_starttls_that_the_server_cannot_do_fails_rather_than_sending_in_clear(app_factory, mailbox, capture_app_log):
    app = app_factory(SMTP_SECURITY="starttls")  # the test server offers no STARTTLS
    log = capture_app_log()
    with app.app_context():
        send_mail(reset_mail(to="tls@example.com"))
    assert mailbox.to("tls@example.com") == []
    assert "mail delivery failed: SMTPNotSupportedError" in log.getvalue()
    assert "SECRETtoken" not in log.getvalue()
