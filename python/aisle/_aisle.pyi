"""Type stubs of the extension module ``aisle._aisle`` (Rust, PyO3)."""

from typing import Callable, Optional, Tuple

import numpy as np
import numpy.typing as npt

MODELS: list[str]

class AisleError(Exception): ...
class ParamError(AisleError): ...
class DataError(AisleError): ...
class FitError(AisleError): ...
class ModelError(AisleError): ...

Progress = Callable[[str, int, int, Optional[float]], Optional[bool]]
Lists = Tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]

class Fitted:
    """A fitted model of any kind aisle knows."""

    @property
    def name(self) -> str: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    def recommend(
        self,
        users: Optional[npt.NDArray[np.int64]],
        indptr: Optional[npt.NDArray[np.int64]],
        indices: Optional[npt.NDArray[np.int64]],
        values: Optional[npt.NDArray[np.float32]],
        n: int,
        filter_liked: bool,
        filter_items: Optional[npt.NDArray[np.int64]] = None,
        items: Optional[npt.NDArray[np.int64]] = None,
    ) -> Lists: ...
    def similar_items(
        self, items: npt.NDArray[np.int64], n: int, filter_items: Optional[npt.NDArray[np.int64]] = None
    ) -> Lists: ...
    def factors(
        self,
    ) -> Optional[
        Tuple[
            npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]
        ]
    ]: ...
    def fold_in(
        self, items: npt.NDArray[np.int64], values: npt.NDArray[np.float32]
    ) -> Optional[npt.NDArray[np.float32]]: ...
    def score(self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]: ...
    def predict(self, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]: ...
    def to_bytes(self) -> bytes: ...

def fit(
    model: str,
    params: str,
    n_items: int,
    explicit: bool,
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64],
    values: npt.NDArray[np.float32],
    seed: int,
    progress: Optional[Progress] = None,
    item_features: Optional[Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = None,
    user_features: Optional[Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = None,
) -> Fitted: ...
def model_from_bytes(data: bytes) -> Fitted: ...

Csr = Tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]

def evaluate(fitted: Fitted, train: Csr, test: Csr, k: int = 10, relevance_threshold: Optional[float] = None) -> str: ...
def split(matrix: Csr, n_items: int, strategy: str, seed: int) -> list[Tuple[Csr, Csr]]: ...
