"""What a process needs to answer with models, shared by the web processes (on a cache miss) and
the workers (filling the cache), so a cached list and a computed one are the same list: the
``ServingContext``, the models it holds, the movies' titles and genres, and list computation."""
