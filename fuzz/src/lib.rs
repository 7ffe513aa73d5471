//! Shared by the fuzz targets: the seed files for the two loaders.
pub mod seeds;
