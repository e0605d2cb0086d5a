"""One thin adapter per SDK: the workloads written in that SDK's own API.

An adapter module is imported only inside its SDK's virtualenv.
"""
