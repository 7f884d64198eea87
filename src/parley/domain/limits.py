"""Size limits. Configurable (settings) and documented in the README; the defaults follow the Vonage docs where
they state a number and stay generous where they do not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 262_144  # a whole request body; larger is refused with 413 before parsing
    max_text_chars: int = 32_768  # `text` of a text message
    max_custom_body_bytes: int = 4_096  # custom events and `custom` messages (Vonage: 4096 bytes)
    max_members: int = 3_000  # live (invited + joined) members per conversation (Vonage: 3000 for chat)
    max_name_chars: int = 100
    max_display_name_chars: int = 50
    max_user_display_name_chars: int = 255
    max_url_chars: int = 2_048
    max_custom_data_bytes: int = 16_384  # properties.custom_data of users and conversations
    max_image_bytes: int = 10_485_760  # an uploaded image file (Vonage documents none; iOS handles a 413)
    # decoded pixels of an uploaded image: a small file can decode to gigabytes (a "decompression bomb")
    max_image_pixels: int = 40_000_000
    max_devices_per_user: int = 20  # push devices (`device:error:max-device-limit`)
