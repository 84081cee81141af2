"""Implicit-feedback ALS trained on Spark (``pyspark.ml.recommendation.ALS``).

Spark solves the same model as ``implicit`` (Hu, Koren & Volinsky: confidence 1 + α·r), but scales each
user's and item's L2 penalty by its number of interactions (ALS-WR). Persona's penalty λ is therefore
passed as λ divided by the mean interactions per user, so an average user gets λ itself. The factors come
back to this process; scoring, filters, reasons and saving are those of :class:`ALSRecommender`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)


def spark_als_factors(weights: sp.csr_matrix, *, factors: int, regularization: float, alpha: float, iterations: int,
                      seed: int, session: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """User and item factors of implicit ALS on ``weights`` (users × items), trained by Spark.

    Users and items without interactions get zero factors (Spark learns none for them).

    Returns:
        ``(user_factors, item_factors)`` as float32 arrays of ``factors`` columns.
    """
    from pyspark.ml.recommendation import ALS

    from persona.engines.spark.session import spark_session

    spark = session or spark_session()
    coo = weights.tocoo()
    n_users, n_items = weights.shape
    active = max(1, int((np.diff(weights.tocsr().indptr) > 0).sum()))
    reg_param = float(regularization) / max(coo.nnz / active, 1.0)
    triples = np.rec.fromarrays([coo.row.astype(np.int32), coo.col.astype(np.int32), coo.data.astype(np.float32)],
                                names="user,item,rating")
    import pandas as pd

    frame = spark.createDataFrame(pd.DataFrame(triples), "user int, item int, rating float")
    parts = max(2, spark.sparkContext.defaultParallelism)
    als = ALS(rank=int(factors), maxIter=int(iterations), regParam=reg_param, alpha=float(alpha), implicitPrefs=True,
              userCol="user", itemCol="item", ratingCol="rating", seed=int(seed), numUserBlocks=parts, numItemBlocks=parts,
              coldStartStrategy="drop", intermediateStorageLevel="MEMORY_AND_DISK")
    model = als.fit(frame.repartition(parts))
    users = _dense(model.userFactors.toPandas(), n_users, factors)
    items = _dense(model.itemFactors.toPandas(), n_items, factors)
    log.info("spark als users=%d items=%d nnz=%d reg_param=%.4g", n_users, n_items, coo.nnz, reg_param)
    return users, items


def _dense(frame: Any, n: int, k: int) -> np.ndarray:
    out = np.zeros((n, k), dtype=np.float32)
    if len(frame):
        out[frame["id"].to_numpy(dtype=np.int64)] = np.vstack(frame["features"].to_numpy()).astype(np.float32)
    return out
