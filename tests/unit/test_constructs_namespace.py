"""Our top-level `constructs/` folder must merge into the `constructs` library, not shadow it."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_library_and_our_constructs_import_side_by_side():
    import constructs
    import constructs.data_lake
    from constructs import Construct
    from constructs.data_lake import DataLake

    # The package itself is the jsii library's; our modules are merged into its search path.
    assert Path(constructs.__file__).parent != REPO / "constructs"
    assert "site-packages" in constructs.__file__
    assert Path(constructs.data_lake.__file__).parent == REPO / "constructs"
    assert issubclass(DataLake, Construct)


def test_no_package_marker_shadows_the_library():
    assert not (REPO / "constructs" / "__init__.py").exists(), (
        "constructs/__init__.py shadows the constructs library and breaks every CDK import "
        "(see ARCHITECTURE.md section 2)"
    )
