"""Generators of synthetic inputs (site mirror, scanned book, learnable MEL data) for the demo and tests.

Entity names, categories and regions come from the real national ICH list in
``data/ihchina_national_list.csv``; descriptions and images are generated, and say so.
"""
