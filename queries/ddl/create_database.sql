-- The database the lake's tables live in.
CREATE DATABASE IF NOT EXISTS loglake
