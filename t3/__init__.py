"""t3: synthesis of T3 text-only temporal training and probe data from image-caption corpora.

    >>> import t3
    >>> corpus = t3.read_captions("captions.json")                         # doctest: +SKIP
    >>> t3.synthesize("captions.json", "out/t3", t3.SynthSpec(n=1000, probe_n=100))  # doctest: +SKIP

Pure Python (no torch). Modules: corpus (readers), pool (train/probe split, key phrases), lexicon
(attribute words), families (the four task families), synth (schedule, letters, files), layout
(the prompt layout shared with the world's text twin), paraphrase (intro/closing lines).
"""

from t3.corpus import Corpus, read_captions
from t3.families import FAMILIES
from t3.synth import GENERATOR_VERSION, SynthSpec, parse_mix, synthesize
from t3.util import corpus_errors_named

synthesize = corpus_errors_named(synthesize)  # corpus-content errors name the corpus file

__all__ = ["Corpus", "FAMILIES", "GENERATOR_VERSION", "SynthSpec", "parse_mix", "read_captions", "synthesize"]
