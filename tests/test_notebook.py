"""The Spanish notebook runs top to bottom (tiny training), with nbclient, and fails on any error."""

import json

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def test_notebook_executes(tmp_path, root):
    notebook_path = root / "notebooks" / "clasificacion_digitos_cnn.ipynb"
    notebook = nbformat.read(notebook_path, as_version=4)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1
    # Like papermill: an injected cell after the parameters overrides them.
    injected = nbformat.v4.new_code_cell(
        f"EPOCAS = 1\nLIMITE = 2000\nCARPETA_RUN = {str(tmp_path / 'run')!r}\n"
        "URL_IMAGEN = 'http://127.0.0.1:9/no-hay-red.png'")
    notebook.cells.insert(notebook.cells.index(parameters[0]) + 1, injected)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook_path.parent)}}).execute()

    outputs = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                        for output in cell.get("outputs", []))
    assert "Exactitud en prueba" in outputs
    assert "Se usa la imagen local ejemplo_numero.png" in outputs  # the offline fallback says so
    assert "leído" in outputs
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_size"] == 2000
    images = sum(1 for cell in notebook.cells if cell.cell_type == "code"
                 for output in cell.get("outputs", []) if "image/png" in output.get("data", {}))
    assert images >= 5  # samples, curves, confusion matrix, mistakes, prediction


def test_committed_notebook_has_outputs_of_a_full_fast_run(root):
    notebook = nbformat.read(root / "notebooks" / "clasificacion_digitos_cnn.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    with_outputs = [cell for cell in code if cell.get("outputs")]
    assert len(with_outputs) >= len(code) - 2  # all but the parameters and the imports
    text = "\n".join(o.get("text", "") for cell in code for o in cell["outputs"])
    assert "Exactitud en prueba: 99." in text and "54000 images" in text
    images = sum(1 for cell in code for o in cell["outputs"] if "image/png" in o.get("data", {}))
    assert images >= 5
