"""aocr/spelling.py: the English letter model, and how it chooses among a reading's doubtful letters."""

from __future__ import annotations

import math

import numpy as np
import pytest


def test_a_context_s_next_letter_probabilities_sum_to_one_even_for_contexts_never_seen():
    from ovconvert.aocr.spelling import END, CharacterNgrams

    model = CharacterNgrams(["CAT", "CART", "CARE", "TREAT", "ACE"], order=3)
    symbols = sorted(set("CATREZ") | {END})  # Z: a letter the list never has
    for context in ("^^", "^C", "CA", "AR", "ZZ", "QX", ""):
        assert sum(model.probability(context, symbol) for symbol in symbols) == pytest.approx(1.0)
    # a word of the list is more probable than the same letters in an order no word has
    assert model.log_probability("CART") > model.log_probability("CRAT")


@pytest.mark.parametrize("word, misread", [
    ("NEWINGS", "NCWINGS"), ("WHINESTONE", "WHINCSTONC"), ("PETARDING", "PETORDING"),
    ("SKULLDUGGERY", "SHULLDUGGERY"), ("SUFFRAGE", "SUEFRAGE"), ("COUNTERIRRITATE", "COUNTERLRRITATE"),
])
def test_the_bundled_english_model_prefers_words_to_their_look_alike_misreads(word, misread):
    """Misreads of trdg's words by the bundled OCR model (docs/aocr.md): a letter read as its look-alike."""
    from ovconvert.aocr.spelling import english

    assert english().log_probability(word) > english().log_probability(misread) + 3


def _greedy(charset, text: str, doubts: dict[int, dict[str, float]], steps: int = 12):
    """(ids, distributions) of a greedy reading of `text` followed by EOS: each step sure (0.99) of its
    character, except at `doubts`' steps, where the probabilities are as given (the first the greedy one)."""
    from ovconvert.aocr.charset import EOS, PAD

    ids = np.full(steps, PAD)
    distributions = np.full((steps, charset.num_classes), 1e-4)
    for step, character in enumerate(text + "\0"):
        ids[step] = EOS if character == "\0" else charset.id_of(character)
        distributions[step, ids[step]] = 0.99
        for other, probability in doubts.get(step, {}).items():
            distributions[step, charset.id_of(other)] = probability
    return ids, distributions


def test_a_doubtful_letter_is_replaced_by_the_alternative_english_spelling_prefers():
    from ovconvert.aocr.charset import DEFAULT, Charset
    from ovconvert.aocr.spelling import Speller

    charset = Charset(DEFAULT)
    ids, distributions = _greedy(charset, "NCWINGS", {1: {"C": 0.6, "E": 0.39}})
    text, probability = Speller(charset, 0.1)("NCWINGS", 0.5, ids, distributions)
    # the model's probability of the reading chosen: the greedy one's, with E's probability for C's
    assert text == "NEWINGS" and probability == pytest.approx(0.5 * 0.39 / 0.6)
    # weight 0 reads as the model does; so does a sure model, which offers no alternative worth a look
    assert Speller(charset, 0.0)("NCWINGS", 0.5, ids, distributions) == ("NCWINGS", 0.5)
    sure_ids, sure = _greedy(charset, "NCWINGS", {1: {"C": 0.98, "E": 0.019}})
    assert Speller(charset, 0.1)("NCWINGS", 0.9, sure_ids, sure) == ("NCWINGS", 0.9)


def test_the_model_outweighs_spelling_when_the_alternative_is_improbable_enough():
    from ovconvert.aocr.charset import DEFAULT, Charset
    from ovconvert.aocr.spelling import Speller, english

    charset = Charset(DEFAULT)
    gap = english().log_probability("NEWINGS") - english().log_probability("NCWINGS")
    # E less probable than C by more than the weighed spelling gap: C stays; by less: E wins
    for ratio, expected in ((math.exp(-0.1 * gap - 0.5), "NCWINGS"), (math.exp(-0.1 * gap + 0.5), "NEWINGS")):
        ids, distributions = _greedy(charset, "NCWINGS", {1: {"C": 0.9, "E": 0.9 * ratio}})
        assert Speller(charset, 0.1)("NCWINGS", 0.5, ids, distributions)[0] == expected


def test_codes_with_digits_single_characters_and_digit_alternatives_are_left_as_read():
    from ovconvert.aocr.charset import DEFAULT, Charset
    from ovconvert.aocr.spelling import Speller

    charset = Charset(DEFAULT)
    speller = Speller(charset, 1.0)
    ids, distributions = _greedy(charset, "AB12CD", {0: {"A": 0.5, "E": 0.45}})
    assert speller("AB12CD", 0.4, ids, distributions) == ("AB12CD", 0.4)
    ids, distributions = _greedy(charset, "Q", {0: {"Q": 0.5, "A": 0.45}})
    assert speller("Q", 0.4, ids, distributions) == ("Q", 0.4)
    # HOUSE with a doubtful O whose alternative is the digit 0: nothing to choose among
    ids, distributions = _greedy(charset, "HOUSE", {1: {"O": 0.5, "0": 0.45}})
    assert speller("HOUSE", 0.4, ids, distributions) == ("HOUSE", 0.4)


def test_up_to_three_doubtful_letters_change_together():
    from ovconvert.aocr.charset import DEFAULT, Charset
    from ovconvert.aocr.spelling import Speller

    charset = Charset(DEFAULT)
    c_or_e, l_or_i = {"C": 0.55, "E": 0.44}, {"L": 0.55, "I": 0.44}
    ids, distributions = _greedy(charset, "WHLNCSTONC", {2: l_or_i, 4: c_or_e, 9: c_or_e})
    assert Speller(charset, 0.1)("WHLNCSTONC", 0.1, ids, distributions)[0] == "WHINESTONE"


def test_choosing_among_widths_weighs_spelling_only_when_every_reading_is_letters():
    from ovconvert.aocr.charset import DEFAULT, Charset
    from ovconvert.aocr.spelling import Speller, most_probable

    speller = Speller(Charset(DEFAULT), 0.1)
    # a word read at three widths: the most probable reading is a misread no English word resembles
    readings = [("NCWINGS", 0.30), ("NEWINGS", 0.25), ("NCWLNGS", 0.10)]
    assert speller.choose(readings) == ("NEWINGS", 0.25)
    assert most_probable(readings) == ("NCWINGS", 0.30) == Speller(Charset(DEFAULT), 0.0).choose(readings)
    # a reading with a digit among them: the model alone decides, the first on a tie
    assert speller.choose([("NEWINGS", 0.25), ("NEW1NGS", 0.30)]) == ("NEW1NGS", 0.30)
    assert speller.choose([("NCWINGS", 0.3), ("N3WINGS", 0.3)]) == ("NCWINGS", 0.3)
