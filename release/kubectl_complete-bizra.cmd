@echo off
rem Shell completion for `kubectl bizra` on Windows: kubectl runs this with the words after `bizra`.
kubectl-bizra.exe __complete %*
