"""An English spelling prior for the letters the model is unsure of (`aocr predict` and `test`).

The model reads each character from the pixels and what it has read so far, and in a face unlike any it
was trained on some letters are all but indistinguishable from others: a geometric face whose e has a
short bar reads C, a single-storey a reads O, a tall k reads H. A person reads NEWINGS there, not
NCWINGS, because English is not spelt so. This module lets the spelling of English words choose among
the readings the model itself finds plausible, and only among those:

1. The greedy reading (each step's most probable character) stands unless it is all letters (a code with
   a digit, or one character, is left as read) and some of its steps are doubtful: their best character
   has a probability under DOUBTFUL and another letter has at least ALTERNATIVE.
2. Its candidates replace up to SUBSTITUTIONS of the POSITIONS most doubtful characters by their
   alternatives (ALTERNATIVES a position at most). A candidate's log-probability under the model is the
   greedy reading's plus, at each replaced step, log p(alternative) - log p(greedy character) of that
   step's distribution: later steps are taken as the greedy pass read them (exact scores, by feeding each
   candidate to the decoder, read 0–0.8 points more words on four sets, read once, for a second
   network call a doubtful word). The CANDIDATES most probable under the model are kept, the greedy reading among them.
3. Each is scored by its log-probability under the model plus `weight` times its log-probability under a
   character 6-gram model of English words (CharacterNgrams: 74,986 words of Debian's wamerican and
   wbritish, SCOWL, in words/); the best wins, the greedy reading on a tie. Its probability is the
   model's for that reading, as just computed.
4. A word read again at other widths (aocr/reread.py) has a reading, so chosen, at each; the same score
   picks one where all of them are letters (the letter model's log-probability taken relative to that
   of as many average letters, so that a reading a letter shorter does not win for being shorter), and
   the model's probability alone where one is not.

A 6-gram model of letters rather than a word list: a word list can only turn a reading into one of its
words, and the words people photograph (names, trades' words, words run together, a third party's
466k-word dictionary) are mostly not in it; letter sequences generalise to those. Substitutions only, no
inserted or dropped letters: the greedy pass's distributions say nothing about a reading of another
length. Measured (docs/aocr.md, "An English spelling prior"): 0 to 3.3 points more words on each of
thirteen sets, trdg's and the held-out ones, for about 0.1 ms a doubtful reading.

Both engines run this on their own distributions of the same pixels, so they give the same strings.
`weight` 0 reads as the model reads, as aocr does.
"""

from __future__ import annotations

import collections
import functools
import gzip
import math
import threading
from pathlib import Path

import numpy as np

from ovconvert.aocr.charset import EOS, SPECIAL_TOKENS, Charset
from ovconvert.aocr.config import SPELLING_WEIGHT

WORDS = Path(__file__).parent / "words" / "english.txt.gz"
ORDER = 6  # letters of context, the word's start and end included: 4–7 measured, 6 and 7 the best
DISCOUNT = 0.75  # absolute discounting's usual value (Ney, Essen and Kneser 1994)
DOUBTFUL = 0.97
ALTERNATIVE = 0.005
ALTERNATIVES = 3
POSITIONS = 6
SUBSTITUTIONS = 3
CANDIDATES = 12
START, END = "^", "$"
# The mean of log P(word) / (letters + 1) over 3,000 words of the list, in nats: what an average letter
# (or the word's end) costs.
LETTER_LOG_PROBABILITY = -1.49
LOG_CACHE_SIZE = 200_000  # grams; about 30 MB at most


class CharacterNgrams:
    """P(word) as a chain of P(letter | the ORDER-1 letters before it), the word padded with START and
    ended with END, each estimated from how often the letter follows that context in a word list
    (absolute discounting interpolated with the shorter context's estimate, down to a uniform one), so
    any string of letters has a probability and the probabilities of a context's next letters sum to 1."""

    def __init__(self, words, order: int = ORDER, discount: float = DISCOUNT):
        self.order, self.discount = order, discount
        # Each letter's whole context (the padding gives every letter ORDER-1 characters before it), then
        # the shorter grams as the suffixes of those: half the time of counting every length in every word.
        whole = collections.Counter(padded[end - order + 1:end + 1] for word in words
                                    for padded in (START * (order - 1) + word + END,)
                                    for end in range(order - 1, len(padded)))
        grams = collections.Counter()
        for gram, count in whole.items():
            for length in range(1, order + 1):
                grams[gram[-length:]] += count
        self.counts = grams
        # per context: (how many times it is followed by a letter, by how many different letters)
        self.contexts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
        for gram, count in grams.items():
            context = self.contexts[gram[:-1]]
            context[0] += count
            context[1] += 1
        self.contexts = dict(self.contexts)
        self.uniform = 1.0 / (len({gram[-1] for gram in grams if len(gram) == 1}) + 1)  # + an unseen letter
        self._logs: dict[str, float] = {}  # log P(its last letter | the rest), by gram: log_probability's

    def probability(self, context: str, letter: str) -> float:
        """P(letter | context), context the ORDER-1 characters before it (fewer at the start of a word)."""
        probability = self.uniform
        for length in range(min(len(context), self.order - 1) + 1):
            history = context[len(context) - length:]
            seen = self.contexts.get(history)
            if seen is None:
                break
            total, kinds = seen
            count = self.counts.get(history + letter, 0)
            probability = max(count - self.discount, 0.0) / total + self.discount * kinds / total * probability
        return probability

    def log_probability(self, word: str) -> float:
        padded = START * (self.order - 1) + word + END
        total = 0.0
        for end in range(self.order - 1, len(padded)):
            # a word's candidates share most of their letters and contexts: each (context, letter)
            # is worked out once
            gram = padded[end - self.order + 1:end + 1]
            value = self._logs.get(gram)
            if value is None:
                if len(self._logs) >= LOG_CACHE_SIZE:  # a long stream: start again rather than grow
                    self._logs.clear()
                value = self._logs[gram] = math.log(self.probability(gram[:-1], gram[-1]))
            total += value
        return total


_building = threading.Lock()  # the OpenVINO reader's streams spell in threads: one builds, the others wait


def english() -> CharacterNgrams:
    """The bundled word list's model, built on first use (about 0.7 s) and kept for the process."""
    with _building:
        return _english()


@functools.lru_cache(maxsize=1)
def _english() -> CharacterNgrams:
    with gzip.open(WORDS, "rt", encoding="ascii") as lines:
        return CharacterNgrams(line.strip() for line in lines if line.strip())


def _judged(text: str) -> bool:
    """Whether the prior has a say on a reading: two or more letters, nothing else."""
    return len(text) >= 2 and text.isascii() and text.isalpha()


def most_probable(readings: list[tuple[str, float]]) -> tuple[str, float]:
    """The most probable of one word's readings, the first on a tie (reading again without the prior)."""
    return max(readings, key=lambda reading: reading[1])  # (max keeps the first of equals)


class Speller:
    """(text, probability) of the greedy reading → the one the spelling prior prefers (module docstring).
    `weight` 0: the greedy reading, always."""

    def __init__(self, charset: Charset, weight: float = SPELLING_WEIGHT):
        self.charset, self.weight = charset, weight
        # ids of the ASCII letters, the only characters the prior knows and proposes
        self.letters = np.array([False] * SPECIAL_TOKENS +
                                [ch.isascii() and ch.isalpha() for ch in charset.characters])

    def __call__(self, text: str, probability: float, ids, distributions) -> tuple[str, float]:
        """`ids` [S]: the greedy pass's character ids; `distributions` [S, C]: each step's probabilities."""
        if not self.weight or not _judged(text):
            return text, probability
        ids = np.asarray(ids).reshape(-1)
        ends = np.flatnonzero(ids == EOS)
        if not ends.size or ends[0] != len(text):  # no EOS (cut short), or special tokens inside the word
            return text, probability
        candidates = self._candidates(ids[:ends[0]], np.asarray(distributions, dtype=np.float64))
        if len(candidates) == 1:
            return text, probability
        best, best_score, best_change = text, None, 0.0
        for change, letters in candidates:
            reading = "".join(letters)
            score = change + self.weight * self._english(reading)
            if best_score is None or score > best_score:
                best, best_score, best_change = reading, score, change
        return best, probability * math.exp(best_change)

    def choose(self, readings: list[tuple[str, float]]) -> tuple[str, float]:
        """One word's readings at several widths (aocr/reread.py) → the one to keep: where all are words
        the prior judges (letters only), the best by the same score as within a reading (the model's
        log-probability plus `weight` times the English one), else the most probable; the first on a tie."""
        if self.weight and all(_judged(text) for text, _ in readings):
            scores = [math.log(max(probability, 1e-300)) + self.weight * self._english(text)
                      for text, probability in readings]
            return readings[scores.index(max(scores))]
        return most_probable(readings)

    @staticmethod
    def _english(text: str) -> float:
        """The letter model's log-probability of `text`, relative to that of as many average English
        letters (and the word's end), so that readings of other lengths compare fairly: a shorter one is
        not preferred for having fewer letters to pay for."""
        return english().log_probability(text.upper()) - LETTER_LOG_PROBABILITY * (len(text) + 1)

    @classmethod
    def _add_sets(cls, singles, bound: float, chosen: tuple, change: float, start: int, sets: list) -> None:
        """Append to `sets` each set of 2 to SUBSTITUTIONS of `singles` (one a step) that extends `chosen`
        with singles from `start` on and changes the log-probability by at least `bound`."""
        for index in range(start, len(singles)):
            single = singles[index]
            total = change + single[0]
            if total < bound:
                break  # the singles after it change it more
            if any(single[1] == step for _, step, _ in chosen):
                continue
            extended = chosen + (single,)
            if len(extended) >= 2:
                sets.append((total, extended))
            if len(extended) < SUBSTITUTIONS:
                cls._add_sets(singles, bound, extended, total, index + 1, sets)

    def _candidates(self, ids: np.ndarray, distributions: np.ndarray) -> list[tuple[float, list[str]]]:
        """[(change in the model's log-probability, the candidate's characters)], the greedy reading first
        (change 0), then the CANDIDATES - 1 most probable substitutions."""
        doubtful = []  # (the greedy character's probability, step, [(alternative id, log-probability change)])
        for step, best in enumerate(ids):
            step_probabilities = distributions[step]
            if step_probabilities[best] >= DOUBTFUL:
                continue
            ranked = [int(i) for i in np.argsort(-step_probabilities)[:ALTERNATIVES + 1] if i != best]
            alternatives = [(i, math.log(step_probabilities[i]) - math.log(step_probabilities[best])) for i in ranked
                            if self.letters[i] and step_probabilities[i] >= ALTERNATIVE][:ALTERNATIVES]
            if alternatives:
                doubtful.append((step_probabilities[best], step, alternatives))
        # Every single replacement, the best first. A set of replacements changes the model's log-probability
        # by the sum of its members' changes, all negative, so a set that holds the k-th best single one is
        # beaten by the k-1 singles before it, and so is a set whose change is below the last kept single's:
        # the CANDIDATES - 1 best sets are among these singles' pairs and triples, the change at least that.
        singles = sorted(((delta, step, i) for _, step, alternatives in sorted(doubtful)[:POSITIONS]
                          for i, delta in alternatives), reverse=True)[:CANDIDATES - 1]
        bound = singles[-1][0] if len(singles) == CANDIDATES - 1 else -math.inf
        sets = [(delta, ((delta, step, i),)) for delta, step, i in singles]
        self._add_sets(singles, bound, (), 0.0, 0, sets)
        sets.sort(key=lambda item: -item[0])
        greedy = [self.charset.characters[i - SPECIAL_TOKENS] for i in ids]
        candidates = [(0.0, greedy)]
        for change, chosen in sets[:CANDIDATES - 1]:
            letters = list(greedy)
            for _, step, i in chosen:
                letters[step] = self.charset.characters[i - SPECIAL_TOKENS]
            candidates.append((change, letters))
        return candidates
