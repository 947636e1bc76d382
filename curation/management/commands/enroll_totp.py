"""``manage.py enroll_totp USERNAME``: give a staff account a TOTP device and print its otpauth:// URI.

Add the URI to an authenticator app (most accept it pasted, or as a QR code made from it offline,
e.g. ``qrencode -t ansiutf8 'otpauth://...'``). With ``DJANGO_ADMIN_REQUIRE_2FA`` on, the admin then
asks for the app's six-digit code at sign-in. The URI is the secret: show it to its owner only.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Create a TOTP device for a staff account and print the otpauth:// URI for an authenticator app."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="A label for the device (default: authenticator).")
        parser.add_argument(
            "--replace", action="store_true", help="Delete the account's existing TOTP devices first (a lost phone)."
        )

    def handle(self, *args, username, name, replace, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No account named {username!r}.") from exc
        if not user.is_staff:
            raise CommandError(f"{username} is not a staff account.")
        existing = TOTPDevice.objects.devices_for_user(user, confirmed=None)
        if replace:
            existing.delete()
        elif existing.exists():
            raise CommandError(f"{username} already has a TOTP device; use --replace to issue a new one.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        self.stdout.write(device.config_url)
