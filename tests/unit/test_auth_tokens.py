"""The token format: prefix + 32 base62 random chars + 6-char CRC32 checksum."""

import re

import pytest

from drgero.identity import tokens


@pytest.mark.parametrize("prefix", ["drgero", "hpd"])
def test_generated_tokens_parse_and_look_like_the_contract(prefix):
    secret = tokens.generate(prefix)
    assert re.fullmatch(rf"{prefix}_[0-9A-Za-z]{{32}}[0-9A-Za-z]{{6}}", secret)
    parsed = tokens.parse(secret)
    assert parsed.prefix == prefix
    assert parsed.is_dataset_token is (prefix == "hpd")


def test_tokens_are_unique_and_carry_at_least_128_bits():
    seen = {tokens.generate("drgero") for _ in range(2000)}
    assert len(seen) == 2000
    # 32 base62 characters: log2(62**32) ~ 190 bits of randomness.
    assert 32 * 5.95 > 128


def test_every_single_character_typo_is_caught_by_the_checksum():
    secret = tokens.generate("drgero")
    body_start = len("drgero_")
    for i in range(body_start, len(secret)):
        for replacement in ("0", "Z", "z"):
            if secret[i] == replacement:
                continue
            typo = secret[:i] + replacement + secret[i + 1 :]
            with pytest.raises(tokens.TokenFormatError):
                tokens.parse(typo)


def test_transposed_characters_are_caught():
    secret = tokens.generate("hpd")
    chars = list(secret)
    for i in range(len("hpd_"), len(secret) - 1):
        if chars[i] == chars[i + 1]:
            continue
        swapped = chars.copy()
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        with pytest.raises(tokens.TokenFormatError):
            tokens.parse("".join(swapped))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "drgero_",
        "drgero_short",
        "sk-or-v1-abcdef",
        "DRGERO_" + "a" * 38,
        "drgero_" + "a" * 37,  # one short
        "drgero_" + "a" * 39,  # one long
        "drgero_" + "a" * 31 + "-" + "a" * 6,  # not base62
        "drgero_" + "a" * 10_000,  # oversized: refused before the regex
        "hpd_" + "é" * 38,
    ],
)
def test_malformed_tokens_are_refused(value):
    with pytest.raises(tokens.TokenFormatError):
        tokens.parse(value)


def test_a_token_with_its_prefix_swapped_fails_the_checksum():
    secret = tokens.generate("hpd")
    with pytest.raises(tokens.TokenFormatError):
        tokens.parse("drgero_" + secret.removeprefix("hpd_"))


def test_hash_and_display_never_contain_the_secret():
    secret = tokens.generate("drgero")
    digest = tokens.hash_secret(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and secret not in digest
    shown = tokens.display(secret)
    assert shown == {"prefix": "drgero_", "last4": secret[-4:], "display": f"drgero_…{secret[-4:]}"}
    assert tokens.hash_secret(secret, pepper="p") != digest


def test_generate_refuses_unknown_prefixes():
    with pytest.raises(ValueError):
        tokens.generate("ghp")
