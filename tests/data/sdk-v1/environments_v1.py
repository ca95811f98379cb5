# An Azure ML SDK v1 script, as written for azureml-core: tests/test_azureml_sdk.py runs it on
# envc with only its import lines changed (azureml.core -> compiler.azureml).
import os
from azureml.core import Environment, Workspace
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.runconfig import DockerConfiguration, ScriptRunConfig

ws = Workspace.from_config()

env = Environment.from_conda_specification(name='training_environment', file_path='./conda.yml')
env.register(workspace=ws)
print('from conda file:', env.name, env.version)

pip_env = Environment.from_pip_requirements(name='scoring', file_path='requirements.txt')
pip_env.python.conda_dependencies.set_python_version('3.11')
pip_env.register(workspace=ws)

existing = Environment.from_existing_conda_environment(name='from-py-env', conda_environment_name='py_env')
existing.register(workspace=ws)

env = Environment('training_environment')
deps = CondaDependencies.create(conda_packages=['scikit-learn', 'pandas', 'numpy'],
                                pip_packages=['azureml-defaults'], python_version='3.11')
deps.add_conda_package('scipy')
deps.add_pip_package('mlflow')
deps.add_channel('conda-forge')
env.python.conda_dependencies = deps
env.environment_variables['OMP_NUM_THREADS'] = '4'
env.docker.base_image = 'my-base-image'
env.docker.base_image_registry.address = 'myregistry.azurecr.io'
env.docker.base_image_registry.username = 'admin'
env.docker.base_image_registry.password = os.environ.get('ACR_PASSWORD', 'secret')
env.register(workspace=ws)
again = env.register(workspace=ws)
print('registered twice:', env.version, again.version)

gpu = env.clone('gpu-training')
gpu.docker.base_image = 'mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04'
gpu.docker.base_image_registry.address = None
gpu.register(workspace=ws)

custom = Environment('custom-image')
custom.docker.base_image = None
custom.docker.base_dockerfile = './Dockerfile'
custom.python.user_managed_dependencies = True
custom.python.interpreter_path = '/opt/miniconda/bin/python'
custom.register(workspace=ws)

inline = Environment('inline-dockerfile')
inline.docker.base_image = None
inline.docker.base_dockerfile = 'FROM ubuntu:22.04'
inline.python.user_managed_dependencies = True
inline.python.interpreter_path = '/usr/bin/python3'
inline.register(workspace=ws)

host = Environment('on-host')
host.python.conda_dependencies = CondaDependencies.create(conda_packages=['numpy'], python_version='3.11')
docker_config = DockerConfiguration(use_docker=False)
src = ScriptRunConfig(source_directory='.', script='train.py', environment=host,
                      docker_runtime_config=docker_config)
host.register(workspace=ws)

for name in Environment.list(workspace=ws):
    print('Name:', name)
training_env = Environment.get(workspace=ws, name='training_environment')
print('latest:', training_env.name, training_env.version)
training_env = Environment.get(workspace=ws, name='training_environment', version='1')
print('version 1:', training_env.version, sorted(training_env.python.conda_dependencies.conda_packages))

env.save_to_directory('saved', overwrite=True)
loaded = Environment.load_from_directory('saved')
print('loaded:', loaded.name, sorted(loaded.python.conda_dependencies.pip_packages))
copy = env.clone('new-name')
print('clone:', copy.name, copy.version, env.name, env.version)
print('image:', env.get_image_details(ws)['dockerImage']['name'])
