"""Generators of synthetic inputs for the tests, the benchmarks and the bundled sample in data/.

They live under tests/ (as Scrapy keeps its test servers there), not in the installed package:
only a checkout needs them. ``python -m tests.synth`` regenerates the bundled data/mirror and
data/sample_book.pdf; each module also has its own command line (``python -m tests.synth.mirror``,
``tests.synth.book``, ``tests.synth.learnable``).

Entity names, categories and regions come from the real national ICH list in
``data/ihchina_national_list.csv``; descriptions and images are generated, and say so.
"""
